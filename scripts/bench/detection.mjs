// Reference-runtime side of `make bench` for the detectors: the same model.json/.bin and the same
// inputs (written by the `parity_inputs` example) in TF.js with the wasm backend (SIMD; node runs
// it on one thread). Prints one JSON line per detection model: p50/p90 in ms over warm runs of
// the graph forward (all outputs read back: NanoDet's 6 heads; CenterNet's keypoints, wh and the
// in-graph top-100 decode), on the person.jpg case. Input conversion and NMS are not timed.
//
//   node scripts/bench/detection.mjs <parity-dir> [runs]
import path from 'node:path';
import { benchCases, timeForward } from '../lib/tfjs.mjs';
import { makeInput, NANODET_OUTPUTS, CENTERNET_OUTPUTS } from '../golden/detection.mjs';

const [parityDir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 30);
for await (const [c, model] of benchCases(parityDir, 'detection')) {
  const names = path.basename(c.graph).startsWith('centernet') ? CENTERNET_OUTPUTS : NANODET_OUTPUTS;
  const input = makeInput(parityDir, c);
  const timing = await timeForward(model, input, runs, names);
  input.dispose();
  model.dispose();
  console.log(JSON.stringify({ model: c.model, ...timing }));
}
