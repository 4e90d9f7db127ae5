// Reference-runtime side of `make bench`: the same model.json/.bin and the same inputs (written
// by the `parity_inputs` example) in TF.js with the wasm backend (SIMD; node runs it on one
// thread). Prints one JSON line per model: forward p50/p90 in ms over warm runs.
//
//   node scripts/bench/segmentation.mjs <parity-dir> [runs]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

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
const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'inputs.json'), 'utf8')).filter((c) => c.task === 'segmentation' && c.photo === 'person.jpg' && c.graph.endsWith('.json'));
for (const c of cases) {
  const mj = JSON.parse(fs.readFileSync(c.graph, 'utf8'));
  const dir = path.dirname(c.graph);
  const buf = Buffer.concat(mj.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest.flatMap((g) => g.weights), weightData }));
  const rgb = fs.readFileSync(path.join(parityDir, `${c.name}.rgb`));
  const input = tf.tidy(() => tf.tensor(Float32Array.from(rgb), [1, c.height, c.width, 3]).div(255));
  const times = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const out = model.execute(input);
    await out.data();
    const dt = performance.now() - t0;
    out.dispose();
    if (i >= 3) times.push(dt);
  }
  input.dispose();
  console.log(JSON.stringify({ model: c.model, runtime: `tfjs ${tf.version.tfjs} wasm`, p50: pct(times, 0.5), p90: pct(times, 0.9) }));
}
