// End-to-end: starts the release server on a free loopback port (plus a loopback image server
// for the URL-paste paths), drives Debian's chromium headless with playwright-core, and runs
// the page suites in tests/. Screenshots go to end2end/artifacts/ (ignored by git).
// Usage: node end2end/e2e.mjs [suite ...]   (suites: home segment detect classify compare summarize docs)
// The site is $LEPTOS_SITE_ROOT if set, else $CARGO_TARGET_DIR/site (scripts/build-site.sh's output).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { results } from './lib.mjs';

const cache = process.env.CANDLELIT_CACHE || path.join(os.homedir(), '.cache/candlelit');
const require = createRequire(path.join(cache, 'npm', 'x.js'));
const { chromium } = require('playwright-core');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const bin = path.join(target, 'release', 'candlelit');
const modelDir = process.env.CANDLELIT_MODEL_DIR || path.join(root, 'model-store');
const samples = path.join(modelDir, 'samples');
const artifacts = path.join(root, 'end2end', 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const ALL = ['home', 'segment', 'detect', 'classify', 'compare', 'summarize', 'docs'];
const suites = process.argv.length > 2 ? process.argv.slice(2) : ALL;

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

// Serves the sample photos; the app server opts in to fetching from it with --fetch-allow.
const images = http.createServer((req, res) => {
  const file = path.join(samples, path.basename(req.url));
  if (req.url.endsWith('.jpg') && fs.existsSync(file)) { res.writeHead(200, { 'content-type': 'image/jpeg' }); res.end(fs.readFileSync(file)); } else { res.writeHead(404); res.end(); }
}).listen(0, '127.0.0.1');
await new Promise((r) => images.once('listening', r));
const imageUrl = (name) => `http://127.0.0.1:${images.address().port}/${name}`;

const port = await freePort();
const server = spawn(bin, ['serve', '--port', String(port), '--fetch-allow', '127.0.0.1/32'], {
  env: { ...process.env, CANDLELIT_MODEL_DIR: modelDir, LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT || path.join(target, 'site'), RUST_LOG: 'warn' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
let browser;
const t0 = Date.now();
try {
  for (let i = 0; ; i++) {
    try { const r = await fetch(`${base}/readyz`); if (r.ok) break; } catch {}
    if (i > 900) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const env = { browser, base, samples, artifacts, imageUrl };
  for (const name of suites) {
    const t = Date.now();
    console.log(`${name}:`);
    try {
      await (await import(`./tests/${name}.mjs`)).default(env);
    } catch (e) {
      results.failed++;
      console.log(`  FAIL ${name}:`, e.stack || e);
    }
    console.log(`  (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
} catch (e) {
  results.failed++;
  console.log('  FAIL', e.stack || e);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  images.close();
}
console.log(`e2e: ${results.passed} passed, ${results.failed} failed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(results.failed ? 1 : 0);
