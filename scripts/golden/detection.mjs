// Reference outputs for the COCO detectors (NanoDet-g, CenterNet-MobileNetV3), from TF.js (the
// runtime these model.json/.bin files were made for) with the CPU backend, on the exact inputs
// candle uses (written by the `parity_inputs` example: already resized, raw interleaved RGB u8).
//
//   node scripts/golden/detection.mjs <parity-dir> <golden-out-dir>
//   (CANDLELIT_NPM_DIR=~/.cache/candlelit/npm finds the pinned TF.js)
//
// Golden file <name>.json: model, photo, width, height, input_sha256, reference, score_floor,
// nms_iou, `detections` [{category_id (0..79), label, score, box [x1,y1,x2,y2]}] in MODEL-INPUT
// pixels (every (box, class) pair with score >= score_floor, per-class greedy NMS at IoU > nms_iou
// suppressed, sorted by score desc, at most 100), plus `raw` statistics of every graph output
// (shape, sum, sum of |x|, min, max, first values) so that a mismatch can be localized to the
// graph or to the decode.
//
// Input: `channels: "bgr"` swaps R and B first; then (x - mean[c]) / std[c] on 0..255 values
// (mean/std in the order of the channels fed to the model); `layout` nchw or nhwc.
//
// ---------------------------------------------------------------------------------------------
// NanoDet-g (nanodet.json; input `input_1` [1,3,416,416] NCHW, BGR, mean [103.53,116.28,123.675],
// std [57.375,57.12,58.395]) - decode as upstream RangiLyu/nanodet GFLHead (nanodet/model/head/
// gfl_head.py `get_bboxes` + `get_single_level_center_point`, nanodet/util/box_transform.py
// `distance2bbox`, nanodet/model/module/nms.py `multiclass_nms`):
//   outputs Identity / Identity_1 / Identity_2 = [1,N,80] class scores (sigmoid already applied in
//   the graph) for strides 8 / 16 / 32 (N = 52*52, 26*26, 13*13; cell n = row*grid + col);
//   Identity_3 / _4 / _5 = [1,N,44] box distributions, channel = side*11 + bin, side order
//   (left, top, right, bottom).
//   centre: cx = (col + 0.5) * stride, cy = (row + 0.5) * stride   <- upstream uses the +0.5:
//     `x_range = (torch.arange(w) + 0.5) * stride` in get_single_level_center_point (both the old
//     per-level get_bboxes_single and the newer batched get_bboxes use it; only NanoDet-Plus's
//     head drops the +0.5, and this is the GFL-head NanoDet-g).
//   distance d_side = sum_{i=0..10} softmax(bins)_i * i, times stride.
//   box = (cx - d_l, cy - d_t, cx + d_r, cy + d_b), each coordinate clamped to [0, W] / [0, H]
//   (distance2bbox with max_shape = input shape).
//   candidates: every (cell, class) with score >= floor (upstream: score > 0.05); per-class NMS
//   (upstream batched_nms = torchvision nms per class: IoU = inter / (a1 + a2 - inter), areas
//   (x2-x1)*(y2-y1) without +1, suppress when IoU > thr; upstream thr is 0.6, the project uses
//   nms_iou below), then sort by score desc, keep 100. Upstream's older head also pre-filtered
//   each level to its 1000 best cells (by max class score) before NMS; the newer one and this
//   script do not (it only drops weak candidates).
//
// ---------------------------------------------------------------------------------------------
// CenterNet (centernet.json, from github.com/610265158/mobilenetv3_centernet, as used by
// vladmandic/human src/object/centernet.ts):
//   PREPROCESS: input `tower_0/images` [1,512,512,3] NHWC float32, RGB, raw 0..255 values
//   (mean 0, std 1). Upstream's `preprocess` divides by 255 inside the graph; the frozen graph
//   has that folded into the stem conv (no Div/Mul on the input; checked here: 0..1 input gives
//   no detection above 0.02, 0..255 RGB gives dog.jpg bicycle/dog/car). human: plain bilinear
//   resize of its 0..255 RGB frame to 512x512 (upstream's own demo letterboxes instead).
//   OUTPUTS: `tower_0/keypoints` [1,128,128,80] = sigmoid heatmap; `tower_0/wh` [1,128,128,4] =
//   head output * 16 (Mul by const 16 in-graph) = distances in 512-input PIXELS (left, top,
//   right, bottom) from the cell point; `tower_0/detections` [1,100,6] = in-graph decode:
//     1. peak NMS: hmax = MaxPool 3x3, stride 1, SAME (padding never wins: TF pads with -inf);
//        heat = keypoints * float(keypoints == hmax)   (exact float equality; non-peaks -> 0)
//     2. flatten heat in NHWC order: idx = (y*128 + x)*80 + c, TopKV2 k=100 sorted (descending;
//        equal values: lower idx first)
//     3. c = idx mod 80; x = (idx div 80) mod 128; y = (idx div 80) div 128   (int FloorDiv/Mod)
//     4. (l,t,r,b) = wh[0, y, x, 0..4]
//     5. row = [x*4 - l, y*4 - t, x*4 + r, y*4 + b, score, float(c)]  (stride 4, NO +0.5 centre,
//        no offset head, no clamping: boxes may be negative or exceed 512)
//   class = 0-based COCO-80 index (human: labels[class], index 0 = person); score = peak value.
//   human then runs class-agnostic tf.image.nonMaxSuppression on those 100 rows; the golden here
//   applies the same post as for NanoDet instead (score >= floor, per-class NMS IoU > nms_iou,
//   sort, cap 100) to the in-graph rows. The script re-derives the 100 rows from keypoints + wh
//   with the maths above and records the max difference to the graph's rows (`decode_check`).
//   The golden also keeps the graph's 100 rows verbatim (`graph_detections`).
import fs from 'node:fs';
import path from 'node:path';
import { tf, goldenCases, goldenHeader } from '../lib/tfjs.mjs';

export const SCORE_FLOOR = 0.05;
// Per-class NMS overlap: NanoDet's upstream config (nms_cfg iou_threshold 0.6); CenterNet has
// no NMS of its own beyond peak picking, so the project uses 0.5 (models/src/detect/centernet.rs).
export const NMS_IOU = { nanodet: 0.6, centernet: 0.5 };
export const MAX_DETECTIONS = 100;
// Class names: the project's label set (index = category_id).
export const COCO80 = fs.readFileSync(new URL('../../models/labels/coco-80.txt', import.meta.url), 'utf8').trim().split('\n');
export const NANODET_OUTPUTS = ['Identity', 'Identity_1', 'Identity_2', 'Identity_3', 'Identity_4', 'Identity_5'];
export const CENTERNET_OUTPUTS = ['tower_0/keypoints', 'tower_0/wh', 'tower_0/detections'];

// The case's .rgb -> model input tensor, per the parity contract.
export function makeInput(parityDir, c) {
  const rgb = fs.readFileSync(path.join(parityDir, `${c.name}.rgb`));
  const n = c.width * c.height;
  if (rgb.length !== n * 3) throw new Error(`${c.name}.rgb: ${rgb.length} bytes, want ${n * 3}`);
  const order = c.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const data = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      const v = (rgb[i * 3 + order[k]] - c.mean[k]) / c.std[k];
      if (c.layout === 'nchw') data[k * n + i] = v; else data[i * 3 + k] = v;
    }
  }
  return tf.tensor(data, c.layout === 'nchw' ? [1, 3, c.height, c.width] : [1, c.height, c.width, 3]);
}

function stats(name, shape, d) {
  let sum = 0, abs = 0, min = Infinity, max = -Infinity;
  for (const v of d) { sum += v; abs += Math.abs(v); if (v < min) min = v; if (v > max) max = v; }
  return { name, shape, sum, sum_abs: abs, min, max, first: Array.from(d.slice(0, 8)) };
}

// Areas without +1, an inverted box has area 0; suppression when IoU > threshold.
const area = (b) => Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
const iou = (a, b) => {
  const inter = area([Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])]);
  const ua = area(a) + area(b) - inter;
  return ua > 0 ? inter / ua : 0;
};

// cands: [{category_id, score, box}] in candidate order. Per-class greedy NMS (stable: equal
// scores keep candidate order), then all classes by score desc, at most `max`.
export function perClassNms(cands, iouThr, max = MAX_DETECTIONS) {
  const byClass = new Map();
  cands.forEach((d, i) => { d.i = i; (byClass.get(d.category_id) || byClass.set(d.category_id, []).get(d.category_id)).push(d); });
  const kept = [];
  for (const list of byClass.values()) {
    list.sort((a, b) => b.score - a.score || a.i - b.i);
    const keep = [];
    for (const d of list) if (keep.every((k) => iou(k.box, d.box) <= iouThr)) keep.push(d);
    kept.push(...keep);
  }
  kept.sort((a, b) => b.score - a.score || a.i - b.i);
  return kept.slice(0, max).map(({ category_id, score, box }) => ({ category_id, label: COCO80[category_id], score, box }));
}

// NanoDet GFL decode (see the header). outs: Map name -> {shape, data}.
export function decodeNanodet(outs, width, height, floor = SCORE_FLOOR) {
  const cls = [...outs.values()].filter((o) => o.shape[2] === 80);
  const reg = [...outs.values()].filter((o) => o.shape[2] === 44);
  const cands = [];
  for (const c of cls.sort((a, b) => b.shape[1] - a.shape[1])) {
    const r = reg.find((o) => o.shape[1] === c.shape[1]);
    const grid = Math.round(Math.sqrt(c.shape[1]));
    const stride = width / grid;
    for (let n = 0; n < c.shape[1]; n++) {
      let any = false;
      for (let k = 0; k < 80; k++) if (c.data[n * 80 + k] >= floor) { any = true; break; }
      if (!any) continue;
      const cx = ((n % grid) + 0.5) * stride, cy = (Math.floor(n / grid) + 0.5) * stride;
      const dist = [0, 1, 2, 3].map((s) => {
        const b = r.data.subarray(n * 44 + s * 11, n * 44 + s * 11 + 11);
        const m = Math.max(...b);
        let z = 0, e = 0;
        for (let i = 0; i < 11; i++) { const p = Math.exp(b[i] - m); z += p; e += p * i; }
        return (e / z) * stride;
      });
      const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
      const box = [clamp(cx - dist[0], width), clamp(cy - dist[1], height), clamp(cx + dist[2], width), clamp(cy + dist[3], height)];
      for (let k = 0; k < 80; k++) {
        const s = c.data[n * 80 + k];
        if (s >= floor) cands.push({ category_id: k, score: s, box });
      }
    }
  }
  return perClassNms(cands, NMS_IOU.nanodet);
}

// CenterNet in-graph decode re-derived from keypoints [1,H,W,C] + wh [1,H,W,4] (see the header).
export function decodeCenternetRows(kp, wh, k = 100, stride = 4) {
  const [, H, W, C] = kp.shape;
  const heat = new Float32Array(kp.data.length);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) {
    const v = kp.data[(y * W + x) * C + c];
    let m = -Infinity;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const yy = y + dy, xx = x + dx;
      if (yy >= 0 && yy < H && xx >= 0 && xx < W) m = Math.max(m, kp.data[(yy * W + xx) * C + c]);
    }
    heat[(y * W + x) * C + c] = v === m ? v : 0;
  }
  // Stable top-k: score desc, then lower flat index (TF TopKV2 and TF.js order ties that way).
  const peaks = [];
  for (let i = 0; i < heat.length; i++) if (heat[i] !== 0) peaks.push(i);
  peaks.sort((a, b) => heat[b] - heat[a] || a - b);
  for (let i = 0; peaks.length < k && i < heat.length; i++) if (heat[i] === 0) peaks.push(i);
  const idx = peaks.slice(0, k);
  return idx.map((i) => {
    const c = i % C, x = Math.floor(i / C) % W, y = Math.floor(Math.floor(i / C) / W);
    const o = (y * W + x) * 4;
    const f = Math.fround; // the graph computes in float32
    return [f(x * stride - wh.data[o]), f(y * stride - wh.data[o + 1]), f(x * stride + wh.data[o + 2]), f(y * stride + wh.data[o + 3]), heat[i], c];
  });
}

export function centernetDetections(rows, floor = SCORE_FLOOR) {
  const cands = rows.filter((r) => r[4] >= floor).map((r) => ({ category_id: r[5], score: r[4], box: r.slice(0, 4) }));
  return perClassNms(cands, NMS_IOU.centernet);
}

async function main() {
  const [parityDir, outDir] = process.argv.slice(2);
  if (!parityDir || !outDir) { console.error('usage: node scripts/golden/detection.mjs <parity-dir> <golden-out-dir>'); process.exit(2); }
  for await (const [c, model] of goldenCases(parityDir, outDir, 'detection')) {
    const isCenternet = path.basename(c.graph).startsWith('centernet');
    const names = isCenternet ? CENTERNET_OUTPUTS : NANODET_OUTPUTS;
    const input = makeInput(parityDir, c);
    const tensors = model.execute(input, names);
    const outs = new Map();
    for (let i = 0; i < names.length; i++) outs.set(names[i], { shape: tensors[i].shape, data: await tensors[i].data() });
    tf.dispose([input, ...tensors]);
    const golden = {
      ...goldenHeader(c),
      score_floor: SCORE_FLOOR,
      nms_iou: isCenternet ? NMS_IOU.centernet : NMS_IOU.nanodet,
      detections: [],
      raw: [...outs].map(([n, o]) => stats(n, o.shape, o.data)),
    };
    if (isCenternet) {
      const g = outs.get('tower_0/detections');
      const rows = Array.from({ length: g.shape[1] }, (_, i) => Array.from(g.data.slice(i * 6, i * 6 + 6)));
      const mine = decodeCenternetRows(outs.get('tower_0/keypoints'), outs.get('tower_0/wh'));
      let maxDiff = 0;
      rows.forEach((r, i) => r.forEach((v, j) => { maxDiff = Math.max(maxDiff, Math.abs(v - mine[i][j])); }));
      golden.decode_check = { rederived_from: 'tower_0/keypoints + tower_0/wh', max_abs_diff_vs_graph_rows: maxDiff };
      golden.graph_detections = rows;
      golden.detections = centernetDetections(rows);
    } else {
      golden.detections = decodeNanodet(outs, c.width, c.height);
    }
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(golden));
    const top = golden.detections.slice(0, 3).map((d) => `${d.label} ${d.score.toFixed(2)} [${d.box.map((v) => v.toFixed(0))}]`).join(', ');
    console.log(`${c.name}: ${golden.detections.length} detections; ${top}${golden.decode_check ? `; decode_check ${golden.decode_check.max_abs_diff_vs_graph_rows}` : ''}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
