"""Random-initialised YOLOv8 twin: ultralytics' own DetectionModel, narrowed with its own scale knobs.

Run from the repository root (CPU only, offline, ~10 s):

    ~/.cache/candlelit/py-twins/bin/python scripts/twins/yolov8.py

Writes models/tests/twins/yolov8/:
  weights.safetensors  the twin's state dict under candle's yolo-v8 example names (f16: see WEIGHT_DTYPE)
  io.safetensors       originals (HWC RGB u8), letterboxed inputs (NCHW RGB u8) and the raw head output
  reference.json       letterbox geometry, thresholds, and the boxes of ultralytics' non_max_suppression
                       both in input pixels and mapped back to the originals by ultralytics' scale_boxes

The mapping from ultralytics' `model.<i>` indices to candle's `net`/`fpn`/`head` names is `LAYER_NAMES` below;
it is the part of the proof that says both sides mean the same layer.
"""

import copy
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

# Before importing ultralytics: no settings file in $HOME, no network, no font downloads.
_SETTINGS = tempfile.mkdtemp(prefix="ultralytics-")
atexit.register(shutil.rmtree, _SETTINGS, ignore_errors=True)
os.environ.setdefault("YOLO_CONFIG_DIR", _SETTINGS)
os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from ultralytics.data.augment import LetterBox  # noqa: E402
from ultralytics.nn.tasks import DetectionModel, yaml_model_load  # noqa: E402
from ultralytics.utils.nms import non_max_suppression  # noqa: E402
from ultralytics.utils.ops import scale_boxes  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "models/tests/twins/yolov8"
SEED = 8
# ultralytics' [depth, width, max_channels]: n's depth and channel cap, 1/16 of yolov8l's width, so the
# channels are 8..64 (make_divisible rounds up to 8) and the head keeps its real 64 box / 80 class channels.
TWIN_SCALE = [0.33, 0.0625, 1024]
NUM_CLASSES = 80
INPUT_HW = (128, 160)  # multiples of 32, small enough to commit
ORIGINAL_HW = [(90, 250), (71, 57)]  # odd sizes: one shrunk and padded top/bottom, one enlarged and padded left/right
# Random weights give low, flat class scores; this threshold keeps a few dozen boxes per image.
CONF_THRES = 0.25
CLASS_WEIGHT_GAIN = 8.0
CLASS_BIAS_MEAN = -3.0
IOU_THRES = 0.7  # ultralytics' predictor default (cfg `iou`)
MAX_DET = 300
# Weights are rounded to f16 and the reference computed with the rounded values in f32, so the file is
# half the size and candle (which upcasts on load) sees exactly the numbers torch used.
WEIGHT_DTYPE = torch.float16

# ultralytics yolov8.yaml layer index -> candle yolo-v8 example prefix. Upsample (10, 13) and Concat
# (11, 14, 17, 20) have no weights.
LAYER_NAMES = {
    0: "net.b1.0",
    1: "net.b1.1",
    2: "net.b2.0",
    3: "net.b2.1",
    4: "net.b2.2",
    5: "net.b3.0",
    6: "net.b3.1",
    7: "net.b4.0",
    8: "net.b4.1",
    9: "net.b5.0",
    12: "fpn.n1",
    15: "fpn.n2",
    16: "fpn.n3",
    18: "fpn.n4",
    19: "fpn.n5",
    21: "fpn.n6",
    22: "head",
}


def candle_name(ultralytics_name: str) -> str:
    """`model.4.m.1.cv2.bn.weight` -> `net.b2.2.bottleneck.1.cv2.bn.weight`.

    Inside the blocks the names already agree (Conv's conv/bn, C2f/SPPF's cv1/cv2, Detect's cv2/cv3/dfl and
    their Sequential indices) except C2f's bottleneck list, `m` in ultralytics.
    """
    match = re.fullmatch(r"model\.(\d+)\.(.+)", ultralytics_name)
    if not match or int(match[1]) not in LAYER_NAMES:
        raise ValueError(f"no candle name for {ultralytics_name}")
    rest = re.sub(r"^m\.(\d+)\.", r"bottleneck.\1.", match[2])
    return f"{LAYER_NAMES[int(match[1])]}.{rest}"


def build_twin() -> DetectionModel:
    cfg = yaml_model_load("yolov8.yaml")
    cfg["scales"] = {"twin": TWIN_SCALE}
    cfg["scale"] = "twin"
    model = DetectionModel(cfg, ch=3, nc=NUM_CLASSES, verbose=False)
    sppf = model.model[9]
    # ultralytics 8.4 builds YOLO26's unactivated SPPF unless the yaml row is the legacy v8 one; check it is.
    assert isinstance(sppf.cv1.act, torch.nn.SiLU), "expected YOLOv8's activated SPPF.cv1"
    assert model.model[22].legacy, "expected YOLOv8's Conv-Conv-Conv2d class branch, not DWConv"
    return model


def randomise(model: DetectionModel, calibration: torch.Tensor) -> None:
    """Make every weight matter: BN's affine random, its statistics from a real batch, class biases spread.

    Fresh BN layers are the identity (mean 0, var 1, scale 1, shift 0), which would leave them untested;
    statistics taken from the calibration batch keep activations in range through the whole net.
    The scales are small on purpose: with scales near 1 a random net is chaotic (f32 rounding grows ~1.5x
    per layer, so torch's own f32 head is 2e-3 px off its f64 one and a 1e-3 parity bound would test the
    reference's rounding); at 0.2..0.5 SiLU stays near-linear and torch's f32 error is ~3e-4 px.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.2, 0.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.momentum = 1.0  # running stats := this batch's
        model.train()
        model(calibration)
        model.eval()
        detect = model.model[22]
        for cls_conv in detect.cv3:
            # bias_init's log(5 / nc / cells) makes every score ~1e-5, and the small BN scales leave the
            # logits flat: stronger weights make scores depend on the image, the bias sets how many pass.
            cls_conv[-1].weight.mul_(CLASS_WEIGHT_GAIN)
            cls_conv[-1].bias.normal_(CLASS_BIAS_MEAN, 0.5)
        for p in list(model.parameters()) + list(model.buffers()):
            if p.is_floating_point():
                p.copy_(p.to(WEIGHT_DTYPE).float())


def synthetic_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A gradient with a few filled rectangles and noise: edges and flat regions, like a photo has."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    for _ in range(4):
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        y1, x1 = y0 + rng.integers(h // 6, h // 2), x0 + rng.integers(w // 6, w // 2)
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)  # RGB


def letterbox(img_rgb: np.ndarray) -> tuple[np.ndarray, dict]:
    lb = LetterBox(INPUT_HW, auto=False, stride=32)  # as the predictor builds it for a fixed size
    params = lb.get_params({"img": img_rgb})
    out = lb(image=img_rgb)
    geometry = {
        "new_unpad_wh": list(params["new_unpad"]),
        "top": params["top"],
        "left": params["left"],
    }
    return out, geometry


def main() -> None:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    torch.use_deterministic_algorithms(True)

    originals = [synthetic_image(rng, h, w) for h, w in ORIGINAL_HW]
    boxed = [letterbox(img) for img in originals]
    images_u8 = np.stack([b[0].transpose(2, 0, 1) for b in boxed])  # NCHW RGB
    x = torch.from_numpy(images_u8).float() / 255  # as ultralytics' predictor preprocesses

    model = build_twin()
    randomise(model, x)
    with torch.no_grad():
        head, _ = model(x)  # eval: (decoded [N, 4 + nc, anchors], raw dict)
        # The reference's own rounding: the same net in f64 (fresh anchors for the new dtype).
        exact = copy.deepcopy(model).double()
        exact.model[22].shape = None
        head_f64, _ = exact(x.double())
    f32_error = float((head.double() - head_f64).abs().max())
    dets = non_max_suppression(head, CONF_THRES, IOU_THRES, max_det=MAX_DET)

    weights = {candle_name(k): v.to(WEIGHT_DTYPE).contiguous() for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(weights, OUT / "weights.safetensors")
    io = {"images": torch.from_numpy(images_u8).contiguous(), "head": head.contiguous()}
    for i, img in enumerate(originals):
        io[f"original.{i}"] = torch.from_numpy(img).contiguous()
    save_file(io, OUT / "io.safetensors")

    images = []
    for img, (_, geometry), det in zip(originals, boxed, dets):
        mapped = scale_boxes(INPUT_HW, det[:, :4].clone(), img.shape[:2])
        images.append({
            "original_wh": [img.shape[1], img.shape[0]],
            "letterbox": geometry,
            "detections": [
                {"class": int(d[5]), "score": float(d[4]), "box_input": [float(v) for v in d[:4]],
                 "box_original": [float(v) for v in m]}
                for d, m in zip(det, mapped)
            ],
        })
    reference = {
        "generator": "scripts/twins/yolov8.py",
        "ultralytics_scale": TWIN_SCALE,
        "num_classes": NUM_CLASSES,
        "input_wh": [INPUT_HW[1], INPUT_HW[0]],
        "conf_thres": CONF_THRES,
        "iou_thres": IOU_THRES,
        "max_det": MAX_DET,
        "torch_f32_vs_f64_head_max_abs": f32_error,
        "images": images,
    }
    (OUT / "reference.json").write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    counts = [len(d) for d in dets]
    above = [int((h[4:].amax(0) > CONF_THRES).sum()) for h in head]
    print(f"torch f32 vs f64 head max |delta| {f32_error:.2e}", file=sys.stderr)
    print(f"candidates above conf {above}, kept after NMS {counts}", file=sys.stderr)
    print(f"head {tuple(head.shape)}, boxes per image {counts}, classes {[sorted(set(d[:, 5].int().tolist())) for d in dets]}",
          file=sys.stderr)
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
