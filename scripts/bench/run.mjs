// `make bench`: candle and the reference runtimes on the same model files and the same inputs, in
// one run: segmentation and detection against TF.js wasm, classification against PyTorch and ONNX
// Runtime. Each round runs every candle binary and every reference script, candle first then its
// references (A B A B over `rounds`), so machine drift hits both sides; prints one markdown table
// with p50/p90 of the model forward (median over rounds) and the ratio reference / candle (> 1:
// candle faster), under a line naming the CPU and its SIMD flags.
//
//   node scripts/bench/run.mjs [--segment BIN] [--vision BIN] [--python PY] [--python-bench PY]
//                              <model-store> <parity-dir> [runs] [rounds]
//
// --segment: the bench_segment example (segmentation); --vision: the bench_vision example
// (detection + classification); either may be left out to skip those tasks. --python: the venv
// interpreter with torch for scripts/bench/classification.py (default $CANDLELIT_PY, else
// ~/.cache/candlelit/py/bin/python); when it does not exist the PyTorch reference is skipped with
// a note (`make golden` creates the venv). --python-bench: the interpreter with onnxruntime for
// scripts/bench/onnx_classification.py (default $CANDLELIT_PY_BENCH, else
// ~/.cache/candlelit/py-bench/bin/python; scripts/bench/pyenv-bench.sh creates it), skipped the
// same way. CANDLELIT_NPM_DIR finds the pinned TF.js.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  options: {
    segment: { type: 'string' },
    vision: { type: 'string' },
    python: { type: 'string' },
    'python-bench': { type: 'string' },
  },
  allowPositionals: true,
});
const [store, parityDir, runs = '30', rounds = '2'] = positionals;
if (!store || !parityDir || (!opt.segment && !opt.vision)) {
  console.error('usage: run.mjs [--segment BIN] [--vision BIN] [--python PY] [--python-bench PY] <model-store> <parity-dir> [runs] [rounds]');
  process.exit(2);
}
const python = opt.python || process.env.CANDLELIT_PY || path.join(os.homedir(), '.cache/candlelit/py/bin/python');
const pythonBench = opt['python-bench'] || process.env.CANDLELIT_PY_BENCH || path.join(os.homedir(), '.cache/candlelit/py-bench/bin/python');
const here = path.dirname(new URL(import.meta.url).pathname);
const notes = [];

// One round's steps, in order: [label, command, args]. A candle binary, then its references.
const steps = [];
if (opt.segment) {
  steps.push(['candle segmentation', opt.segment, [store, runs, '--json']]);
  steps.push(['TF.js segmentation', 'node', [path.join(here, 'segmentation.mjs'), parityDir, runs]]);
}
if (opt.vision) {
  steps.push(['candle detection + classification', opt.vision, [store, runs, '--json']]);
  steps.push(['TF.js detection', 'node', [path.join(here, 'detection.mjs'), parityDir, runs]]);
  if (fs.existsSync(python)) {
    steps.push(['PyTorch classification', python, [path.join(here, 'classification.py'), parityDir, runs]]);
  } else {
    notes.push(`PyTorch reference skipped: no interpreter at ${python} (set CANDLELIT_PY or --python; \`make golden\` creates the venv).`);
  }
  if (fs.existsSync(pythonBench)) {
    steps.push(['ONNX Runtime classification', pythonBench, [path.join(here, 'onnx_classification.py'), parityDir, runs]]);
  } else {
    notes.push(`ONNX Runtime reference skipped: no interpreter at ${pythonBench} (--python-bench; scripts/bench/pyenv-bench.sh creates the venv).`);
  }
}

const lines = (out) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const results = new Map();
const add = (r) => {
  const k = `${r.model}|${r.runtime}`;
  if (!results.has(k)) results.set(k, { ...r, mins: [], p50s: [], p90s: [], whole_p50s: [] });
  const e = results.get(k);
  if (r.min !== undefined) e.mins.push(r.min);
  e.p50s.push(r.p50);
  e.p90s.push(r.p90);
  if (r.whole_p50 !== undefined) e.whole_p50s.push(r.whole_p50);
};
// Time the hypervisor gave to other guests (/proc/stat steal): a noisy run shows it.
const cpuTicks = () => {
  const f = (fs.existsSync('/proc/stat') ? fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] : 'cpu 0 0 0 0 0 0 0 0').split(/\s+/).slice(1, 9).map(Number);
  return [f[7], f.reduce((a, b) => a + b, 0)];
};
const ticks0 = cpuTicks();
const t0 = Date.now();
for (let i = 0; i < Number(rounds); i++) {
  for (const [label, cmd, args] of steps) {
    const t = Date.now();
    lines(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 })).forEach(add);
    console.error(`round ${i + 1}/${rounds}: ${label} ${((Date.now() - t) / 1e3).toFixed(0)} s`);
  }
}

// Both sides must have timed the same bytes: bench_vision reports the sha256 of its input.
const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'inputs.json'), 'utf8'));
for (const r of results.values()) {
  if (!r.input_sha256) continue;
  const c = cases.find((c) => c.model === r.model && c.photo === r.photo);
  if (c && c.input_sha256 !== r.input_sha256) {
    notes.push(`WARNING ${r.model}: candle's input differs from ${c.name}.rgb (stale parity dir? rerun parity_inputs).`);
  }
}

const med = (v) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const ms = (v) => `${med(v).toFixed(1)} ms`;
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
// The SIMD features the runtimes pick kernels by (AMX is advertised on our VMs but crashes).
const wanted = /^(sse4_2|avx|avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|amx\w*)$/;
const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const flags = (cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/).filter((f) => wanted.test(f));
console.log(`Machine: ${os.cpus().length} cores, ${cpu} (${flags.join(' ') || 'flags unknown'}), load average ${os.loadavg()[0].toFixed(2)} at the end, CPU steal ${((t) => (100 * (t[0] - ticks0[0]) / Math.max(t[1] - ticks0[1], 1)).toFixed(0))(cpuTicks())} %; ${runs} warm runs x ${rounds} alternating rounds (${((Date.now() - t0) / 60e3).toFixed(1)} min); batch 1.`);
console.log('TF.js wasm runs on one thread in node; PyTorch and ONNX Runtime on 2 threads; candle uses every core.\n');
// The fastest run of all rounds as well as the median: on a shared VM stolen time only adds, so
// the minimum is the steadier comparison of the kernels themselves.
const least = (v) => Math.min(...v);
console.log('| model | runtime | forward min | forward p50 | forward p90 | ratio (reference / candle): min | p50 |');
console.log('|---|---|---|---|---|---|---|');
const all = [...results.values()];
for (const m of [...new Set(all.map((r) => r.model))]) {
  const c = results.get(`${m}|candle`);
  for (const r of [c, ...all.filter((r) => r.model === m && r.runtime !== 'candle')]) {
    if (!r) continue;
    const both = r !== c && c;
    const rmin = both && r.mins.length && c.mins.length ? `${(least(r.mins) / least(c.mins)).toFixed(2)}x` : '';
    const rp50 = both ? `${(med(r.p50s) / med(c.p50s)).toFixed(2)}x` : '';
    const min = r.mins.length ? `${least(r.mins).toFixed(1)} ms` : '';
    console.log(`| ${m} | ${r.runtime} | ${min} | ${ms(r.p50s)} | ${ms(r.p90s)} | ${rmin} | ${rp50} |`);
  }
}
const wholes = all.filter((r) => r.whole && r.whole_p50s.length);
if (wholes.length) {
  console.log('\ncandle beyond the forward (p50): ' + wholes.map((r) => `${r.model} ${r.whole} ${ms(r.whole_p50s)}`).join('; ') + '.');
}
if (results.has('centernet|candle')) {
  console.log("centernet: TF.js's forward includes the graph's own top-100 decode; candle's forward stops at the heatmap (its decode + NMS are in candidates()).");
}
for (const n of notes) console.log(`\nNote: ${n}`);
