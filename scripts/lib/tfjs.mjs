// TF.js as the reference scripts use it (scripts/golden/*.mjs and scripts/bench/*.mjs): the pinned
// npm packages (CANDLELIT_NPM_DIR, e.g. ~/.cache/candlelit/npm; else node's own lookup), a backend,
// a graph model from its model.json and .bin shards, and the cases of a parity dir (inputs.json
// and the <name>.rgb files the `parity_inputs` example writes).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const npmDir = process.env.CANDLELIT_NPM_DIR;
const require = createRequire(npmDir ? path.join(npmDir, 'x.js') : import.meta.url);
export const tf = require('@tensorflow/tfjs');

// The golden files' backend: TF.js's plain CPU kernels.
export async function useCpu() {
  await tf.setBackend('cpu');
  await tf.ready();
}

// The benchmarks' backend: wasm (SIMD; node runs it on one thread), its start-up warnings hushed.
export async function useWasm() {
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
  const silence = console.warn; console.warn = () => {};
  await tf.setBackend('wasm');
  await tf.ready();
  console.warn = silence;
}

// A graph model from model.json and the weight shards beside it, read from disk.
export async function loadGraph(graphPath) {
  const mj = JSON.parse(fs.readFileSync(graphPath, 'utf8'));
  const dir = path.dirname(graphPath);
  const buf = Buffer.concat(mj.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const weightSpecs = mj.weightsManifest.flatMap((g) => g.weights);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs, weightData }));
}

// The parity dir's cases (inputs.json) that pass `keep`.
export function parityCases(parityDir, keep) {
  return JSON.parse(fs.readFileSync(path.join(parityDir, 'inputs.json'), 'utf8')).filter(keep);
}

// A case's raw interleaved RGB u8 as a [1, H, W, 3] tensor of 0..1 values (the segmenters' input).
export function rgbInput(parityDir, c) {
  const rgb = fs.readFileSync(path.join(parityDir, `${c.name}.rgb`));
  return tf.tidy(() => tf.tensor(Float32Array.from(rgb), [1, c.height, c.width, 3]).div(255));
}

// The golden scripts' loop: on the CPU backend, each case of `task` with its graph model (loaded
// once per graph file); makes outDir first.
export async function* goldenCases(parityDir, outDir, task) {
  await useCpu();
  const cases = parityCases(parityDir, (c) => c.task === task);
  fs.mkdirSync(outDir, { recursive: true });
  const models = new Map();
  for (const c of cases) {
    if (!models.has(c.graph)) models.set(c.graph, await loadGraph(c.graph));
    yield [c, models.get(c.graph)];
  }
}

// The fields every golden file starts with: which case, and which TF.js made it.
export function goldenHeader(c) {
  return {
    model: c.model,
    photo: c.photo,
    width: c.width,
    height: c.height,
    input_sha256: c.input_sha256,
    reference: `@tensorflow/tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`,
  };
}

// The benchmarks' loop: on the wasm backend, each TF.js graph case of `task` on person.jpg with its
// graph model, loaded afresh (the caller disposes of it, or not).
export async function* benchCases(parityDir, task) {
  await useWasm();
  for (const c of parityCases(parityDir, (c) => c.task === task && c.photo === 'person.jpg' && c.graph.endsWith('.json'))) {
    yield [c, await loadGraph(c.graph)];
  }
}

// The benchmarks' timing: `runs` warm runs of the graph forward after 3 untimed ones, every output
// read back each time (`names`: the outputs, default the graph's own). One JSON line's fields.
export async function timeForward(model, input, runs, names) {
  const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };
  const times = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const outs = model.execute(input, names);
    for (const o of Array.isArray(outs) ? outs : [outs]) await o.data();
    const dt = performance.now() - t0;
    tf.dispose(outs);
    if (i >= 3) times.push(dt);
  }
  return { runtime: `tfjs ${tf.version.tfjs} wasm`, min: pct(times, 0), p50: pct(times, 0.5), p90: pct(times, 0.9) };
}
