// Reference-runtime side of `make bench` for the detectors: the same model.json/.bin and the same
// inputs (written by the `parity_inputs` example) in TF.js with the wasm backend (SIMD; node runs
// it on one thread). Prints one JSON line per detection model: p50/p90 in ms over warm runs of
// the graph forward (all outputs read back: NanoDet's 6 heads; CenterNet's keypoints, wh and the
// in-graph top-100 decode), on the person.jpg case. Input conversion and NMS are not timed.
//
//   node scripts/bench/detection.mjs <parity-dir> [runs]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadGraph, makeInput, NANODET_OUTPUTS, CENTERNET_OUTPUTS } from '../golden/detection.mjs';

const npmDir = process.env.CANDLELIT_NPM_DIR;
const require = createRequire(npmDir ? path.join(npmDir, 'x.js') : import.meta.url);
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

const [parityDir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 30);
wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
const silence = console.warn; console.warn = () => {};
await tf.setBackend('wasm');
await tf.ready();
console.warn = silence;

const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };
const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'inputs.json'), 'utf8'))
  .filter((c) => c.task === 'detection' && c.photo === 'person.jpg' && c.graph.endsWith('.json'));
for (const c of cases) {
  const model = await loadGraph(c.graph);
  const names = path.basename(c.graph).startsWith('centernet') ? CENTERNET_OUTPUTS : NANODET_OUTPUTS;
  const input = makeInput(parityDir, c);
  const times = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const outs = model.execute(input, names);
    for (const o of outs) await o.data();
    const dt = performance.now() - t0;
    tf.dispose(outs);
    if (i >= 3) times.push(dt);
  }
  input.dispose();
  model.dispose();
  console.log(JSON.stringify({ model: c.model, runtime: `tfjs ${tf.version.tfjs} wasm`, p50: pct(times, 0.5), p90: pct(times, 0.9) }));
}
