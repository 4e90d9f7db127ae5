// `make bench`: candle and the reference runtime (TF.js wasm) on the same model files and the
// same inputs, in one run, alternating A B A B so machine drift hits both; prints a markdown
// table with p50/p90 of the model forward and the ratio reference / candle (> 1: candle faster).
//
//   node scripts/bench/run.mjs <candle-bench-binary> <model-store> <parity-dir> [runs] [rounds]
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const [candleBin, store, parityDir, runs = '30', rounds = '2'] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
const lines = (out) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const results = {};
const add = (r) => { const k = `${r.model}|${r.runtime}`; (results[k] ||= { ...r, p50s: [], p90s: [] }); results[k].p50s.push(r.p50); results[k].p90s.push(r.p90); };
for (let i = 0; i < Number(rounds); i++) {
  lines(execFileSync(candleBin, [store, runs, '--json'], { encoding: 'utf8' })).forEach(add);
  lines(execFileSync('node', [path.join(here, 'segmentation.mjs'), parityDir, runs], { encoding: 'utf8' })).forEach(add);
}
const med = (v) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${os.cpus().length} cores, ${cpu}; ${runs} warm runs x ${rounds} alternating rounds; batch 1.`);
console.log('TF.js wasm runs on one thread in node; candle uses both cores.\n');
console.log('| model | runtime | forward p50 | forward p90 | ratio (TF.js / candle, p50) |');
console.log('|---|---|---|---|---|');
const models = [...new Set(Object.values(results).map((r) => r.model))];
for (const m of models) {
  const c = results[`${m}|candle`];
  const t = Object.values(results).find((r) => r.model === m && r.runtime !== 'candle');
  for (const r of [c, t]) {
    if (!r) continue;
    const ratio = r === t && c ? `${(med(t.p50s) / med(c.p50s)).toFixed(2)}x` : '';
    console.log(`| ${m} | ${r.runtime} | ${med(r.p50s).toFixed(1)} ms | ${med(r.p90s).toFixed(1)} ms | ${ratio} |`);
  }
}
