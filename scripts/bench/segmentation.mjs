// Reference-runtime side of `make bench`: the same model.json/.bin and the same inputs (written
// by the `parity_inputs` example) in TF.js with the wasm backend (SIMD; node runs it on one
// thread). Prints one JSON line per model: forward p50/p90 in ms over warm runs.
//
//   node scripts/bench/segmentation.mjs <parity-dir> [runs]
import { benchCases, rgbInput, timeForward } from '../lib/tfjs.mjs';

const [parityDir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 30);
for await (const [c, model] of benchCases(parityDir, 'segmentation')) {
  const input = rgbInput(parityDir, c);
  const timing = await timeForward(model, input, runs);
  input.dispose();
  console.log(JSON.stringify({ model: c.model, ...timing }));
}
