// End-to-end: starts the release server on a free loopback port, drives Debian's chromium
// headless with playwright-core, uploads person.jpg, waits for the overlay, moves the threshold
// slider and checks the overlay changed with no new request. Screenshots go to
// end2end/artifacts/ (ignored by git). Usage: node end2end/e2e.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const cache = process.env.CANDLELIT_CACHE || path.join(os.homedir(), '.cache/candlelit');
const require = createRequire(path.join(cache, 'npm', 'x.js'));
const { chromium } = require('playwright-core');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const bin = path.join(target, 'release', 'candlelit');
const modelDir = process.env.CANDLELIT_MODEL_DIR || path.join(root, 'model-store');
const photo = path.join(modelDir, 'samples', 'person.jpg');
const artifacts = path.join(root, 'end2end', 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});

let passed = 0;
let failed = 0;
const check = (name, ok, detail = '') => {
  if (ok) { passed++; console.log(`  ok   ${name}`); } else { failed++; console.log(`  FAIL ${name} ${detail}`); }
};

// A loopback image server for the URL-paste path; the app server opts in to fetching from it
// with --fetch-allow (the default refuses loopback).
const images = http.createServer((req, res) => {
  if (req.url === '/person.jpg') { res.writeHead(200, { 'content-type': 'image/jpeg' }); res.end(fs.readFileSync(photo)); } else { res.writeHead(404); res.end(); }
}).listen(0, '127.0.0.1');
await new Promise((r) => images.once('listening', r));
const imageUrl = `http://127.0.0.1:${images.address().port}/person.jpg`;

const port = await freePort();
const server = spawn(bin, ['serve', '--port', String(port), '--fetch-allow', '127.0.0.1/32'], {
  env: { ...process.env, CANDLELIT_MODEL_DIR: modelDir, LEPTOS_SITE_ROOT: path.join(target, 'site'), RUST_LOG: 'warn' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
let browser;
try {
  for (let i = 0; ; i++) {
    try { const r = await fetch(`${base}/readyz`); if (r.ok) break; } catch {}
    if (i > 300) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const apiCalls = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) apiCalls.push(r.url()); });
  const apiStatuses = [];
  page.on('response', (r) => { if (r.url().includes('/api/')) apiStatuses.push(r.status()); });

  await page.goto(base + '/');
  check('server-rendered heading', (await page.textContent('h1')) === 'Person segmentation');
  // Hydration is done when the wasm has attached; wait for the module to load.
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('frontend_bg.wasm')), null, { timeout: 20000 });
  await page.waitForTimeout(500);

  await page.setInputFiles('#file', photo);
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.includes('model'), null, { timeout: 30000 });
  check('one API request for the upload', apiCalls.length === 1, JSON.stringify(apiCalls));
  const latency = await page.textContent('#latency');
  check('latency shown', /model [\d.]+ ms/.test(latency), latency);
  const size = await page.$eval('#overlay-canvas', (c) => [c.width, c.height]);
  check('overlay at the photo size (640x424)', size[0] === 640 && size[1] === 424, JSON.stringify(size));

  const hash = () => page.$eval('#overlay-canvas', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let tinted = 0; let h = 0;
    for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0; }
    // Count pixels where the overlay differs from the original (the tinted ones).
    const o = document.querySelector('#original-canvas').getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) { if (d[i] !== o[i] || d[i + 2] !== o[i + 2]) tinted++; }
    return { h, tinted, total: d.length / 4 };
  });
  const before = await hash();
  const share = before.tinted / before.total;
  check('overlay tints a person-sized region (2-15 % of pixels)', share > 0.02 && share < 0.15, share.toFixed(4));
  // The man stands at x ~ 190-270: sample the tint there and far right (the horse's flank).
  const tintAt = (x, y) => page.$eval('#overlay-canvas', (c, [x, y]) => {
    const a = c.getContext('2d').getImageData(x, y, 1, 1).data;
    const b = document.querySelector('#original-canvas').getContext('2d').getImageData(x, y, 1, 1).data;
    return a[0] !== b[0] || a[2] !== b[2];
  }, [x, y]);
  check('the man is tinted', await tintAt(225, 230));
  check('the sky is not tinted', !(await tintAt(600, 20)));
  await page.screenshot({ path: path.join(artifacts, 'segment-desktop.png'), fullPage: true });

  const callsBefore = apiCalls.length;
  await page.$eval('#threshold', (el) => { el.value = '0.05'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.waitForTimeout(300);
  const low = await hash();
  check('threshold slider changes the overlay', low.h !== before.h && low.tinted > before.tinted, `${before.tinted} -> ${low.tinted}`);
  await page.$eval('#opacity', (el) => { el.value = '0.2'; el.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.waitForTimeout(300);
  const faint = await hash();
  check('opacity slider changes the overlay', faint.h !== low.h);
  check('sliders made no new request', apiCalls.length === callsBefore, JSON.stringify(apiCalls.slice(callsBefore)));

  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
  const errHandle = await page.waitForFunction(() => {
    const t = document.querySelector('#error')?.textContent.trim();
    return t ? t : null;
  }, null, { timeout: 10000 });
  const err = await errHandle.jsonValue();
  check('a text file shows the server\'s error', /not an image/.test(err) && /415/.test(err), JSON.stringify(err));

  // Drag-and-drop a photo onto the drop zone: the error clears and a new result arrives.
  const calls0 = apiCalls.length;
  const b64 = fs.readFileSync(photo).toString('base64');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'person.jpg', { type: 'image/jpeg' }));
    document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => document.querySelector('#error')?.textContent.trim() === '' && document.querySelector('#latency')?.textContent.includes('model'), null, { timeout: 30000 });
  check('drag-and-drop runs the model', apiCalls.length === calls0 + 1, JSON.stringify(apiCalls.slice(calls0)));

  // Switching model re-runs on the same input.
  await page.selectOption('#model', 'meet');
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('meet'), null, { timeout: 30000 });
  check('model switch re-runs with Meet', apiCalls.at(-1).includes('/api/v1/segment/meet'), apiCalls.at(-1));

  // Paste a URL: the server fetches it (allowed loopback host) and the overlay appears.
  await page.fill('#image-url', imageUrl);
  const calls1 = apiCalls.length;
  await page.click('#url-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('meet') && !document.querySelector('#status')?.textContent, null, { timeout: 30000 });
  await page.waitForTimeout(200);
  const afterUrl = await hash();
  check('URL paste runs the model on the fetched image', apiCalls.length === calls1 + 1 && apiStatuses.at(-1) === 200, `${apiCalls.length - calls1} calls, last status ${apiStatuses.at(-1)}`);
  check('URL paste shows an overlay', afterUrl.tinted > 0.02 * afterUrl.total, String(afterUrl.tinted));

  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: path.join(artifacts, 'segment-phone.png'), fullPage: true });
  check('no page errors', errors.length === 0, errors.join('\n'));

  // Without JavaScript the same form posts to /segment and the browser gets the overlay PNG.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/');
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#segment-button')]);
  check('no-JS form post answers the overlay PNG', resp.status() === 200 && resp.headers()['content-type'] === 'image/png', `${resp.status()} ${resp.headers()['content-type']}`);
  await nojs.close();
} catch (e) {
  failed++;
  console.log('  FAIL', e.stack || e);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  images.close();
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
