// Detection: upload dog.jpg, boxes are listed (dog, bicycle) and drawn; the confidence slider
// filters the list and redraws the canvas with no new request; switching to CenterNet runs
// again; hovering a list entry or a box highlights it (a redraw, no request); the picker
// shows the model's input size and licence and lists the catalog's uninstalled models
// disabled; the downloads are the drawn PNG and the JSON; a fake JPEG shows the server's 415;
// without JavaScript the form posts to /detect/result and gets a server-rendered page.
import path from 'node:path';
import { check, openPage, errorText, slide, canvasHash, fakeJpeg, download, phoneFit } from '../lib.mjs';

const labels = (page) => page.$$eval('#detections li .label', (els) => els.map((e) => e.textContent));

export default async function detect({ browser, base, samples, artifacts }) {
  const photo = path.join(samples, 'dog.jpg');
  const { page, errors, apiCalls } = await openPage(browser, base + '/detect');
  check('detect: server-rendered heading', (await page.textContent('h1')) === 'Object detection');

  await page.setInputFiles('#file', photo);
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('nanodet'), null, { timeout: 30000 });
  check('detect: one API request for the upload', apiCalls.length === 1 && apiCalls[0].includes('/site/detect?model=nanodet'), JSON.stringify(apiCalls));
  const first = await labels(page);
  check('detect: dog and bicycle listed', first.includes('dog') && first.includes('bicycle'), JSON.stringify(first));
  const size = await page.$eval('#detect-canvas', (c) => [c.width, c.height]);
  check('detect: canvas at the photo size (768x576)', size[0] === 768 && size[1] === 576, JSON.stringify(size));
  const latency = await page.textContent('#latency');
  check('detect: latency shown', /queue [\d.]+ ms · inference [\d.]+ ms/.test(latency), latency);
  const info = await page.textContent('#model-info');
  check('detect: picker shows NanoDet\'s input size, licence and source', /input 416×416/.test(info) && /Apache-2\.0/.test(info) && /source: npm/.test(info), info);
  const disabled = await page.$$eval('#model option[disabled]', (os) => os.map((o) => o.value));
  check('detect: uninstalled catalog models listed but disabled', disabled.includes('yolov8n'), JSON.stringify(disabled));

  // Hover: the entry and its box are highlighted by a redraw, with no request.
  const callsH = apiCalls.length;
  const hPlain = await canvasHash(page, '#detect-canvas');
  await page.hover('#detections li:nth-child(2)');
  await page.waitForTimeout(150);
  const hHover = await canvasHash(page, '#detect-canvas');
  check('detect: hovering an entry highlights it and redraws', hHover !== hPlain && (await page.$eval('#detections li:nth-child(2)', (l) => l.classList.contains('active'))));
  await page.screenshot({ path: path.join(artifacts, 'detect-hover.png'), fullPage: true });
  await page.mouse.move(5, 5);
  await page.waitForTimeout(150);
  check('detect: leaving restores the drawing', (await canvasHash(page, '#detect-canvas')) === hPlain);
  // The dog is the lower-left box of dog.jpg: hovering it there marks its entry.
  const box = await page.$eval('#detect-canvas', (c) => { c.scrollIntoView({ block: 'center' }); const r = c.getBoundingClientRect(); return [r.x, r.y, r.width / c.width]; });
  await page.mouse.move(box[0] + 250 * box[2], box[1] + 400 * box[2]);
  await page.waitForTimeout(150);
  const active = await page.$$eval('#detections li.active .label', (ls) => ls.map((l) => l.textContent));
  check('detect: hovering a box marks its entry', JSON.stringify(active) === '["dog"]', JSON.stringify(active));
  await page.mouse.move(5, 5);
  await page.focus('#detections li:first-child');
  check('detect: keyboard focus highlights an entry', await page.$eval('#detections li:first-child', (l) => l.classList.contains('active')));
  await page.$eval('#detections li:first-child', (l) => l.blur());
  const png = await download(page, '#download-image');
  check('detect: annotated PNG download', png.name === 'nanodet-boxes.png' && png.bytes[1] === 0x50 && png.bytes.length > 10000, `${png.name} ${png.bytes.length}`);
  const json = JSON.parse((await download(page, '#download-json')).bytes.toString());
  check('detect: JSON download lists the boxes', json.model === 'nanodet' && json.detections.some((d) => d.label === 'dog'), Object.keys(json).join(','));
  check('detect: hovering and downloads made no request', apiCalls.length === callsH, JSON.stringify(apiCalls.slice(callsH)));
  await page.screenshot({ path: path.join(artifacts, 'detect-desktop.png'), fullPage: true });

  const calls0 = apiCalls.length;
  const h0 = await canvasHash(page, '#detect-canvas');
  await slide(page, '#confidence', 0.6);
  await page.waitForTimeout(200);
  const high = await labels(page);
  const h1 = await canvasHash(page, '#detect-canvas');
  check('detect: raising confidence shortens the list', high.length < first.length && high.includes('bicycle') && !high.includes('dog'), JSON.stringify(high));
  check('detect: raising confidence redraws the canvas', h1 !== h0);
  check('detect: the value label follows the slider', (await page.textContent('#confidence-value')) === '0.60');
  await slide(page, '#confidence', 0.1);
  await page.waitForTimeout(200);
  const low = await labels(page);
  check('detect: lowering confidence lengthens the list', low.length > first.length, `${first.length} -> ${low.length}`);
  check('detect: the slider made no new request', apiCalls.length === calls0, JSON.stringify(apiCalls.slice(calls0)));
  await page.screenshot({ path: path.join(artifacts, 'detect-low-confidence.png'), fullPage: true });

  await slide(page, '#confidence', 0.35);
  await page.selectOption('#model', 'centernet');
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('centernet'), null, { timeout: 60000 });
  const cn = await labels(page);
  check('detect: model switch re-runs with CenterNet', apiCalls.length === calls0 + 1 && apiCalls.at(-1).includes('/site/detect?model=centernet'), JSON.stringify(apiCalls.slice(calls0)));
  check('detect: CenterNet finds the dog', cn.includes('dog'), JSON.stringify(cn));
  await page.screenshot({ path: path.join(artifacts, 'detect-centernet.png'), fullPage: true });

  await page.click('#use-api summary');
  const curl = await page.textContent('#curl-command');
  check('detect: curl names the model and confidence', curl === `curl -F 'file=@dog.jpg' '${base}/api/v1/detect/centernet?confidence=0.35'`, curl);
  const sample = JSON.parse(await page.textContent('#json-sample'));
  check('detect: JSON sample keeps only the boxes shown', sample.detections.length > 0 && sample.detections.every((d) => d.score >= 0.35), JSON.stringify(sample.detections.map((d) => d.score)));

  await page.setInputFiles('#file', fakeJpeg);
  const err = await errorText(page);
  check('detect: a fake JPEG shows the server\'s 415', /not an image/.test(err) && /415/.test(err), JSON.stringify(err));

  const fit = await phoneFit(page);
  check('detect: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'detect-phone.png'), fullPage: true });
  check('detect: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/detect');
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#detect-button')]);
  const listed = await plain.$$eval('#detections li .label', (ls) => ls.map((l) => l.textContent)).catch(() => []);
  check('detect: no-JS form post answers a server-rendered result page', resp.status() === 200 && (await plain.textContent('h1')) === 'Detection result' && listed.includes('dog') && listed.includes('bicycle'), `${resp.status()} ${JSON.stringify(listed)}`);
  const boxes = await plain.$$eval('.boxed .box', (bs) => bs.map((b) => { const r = b.getBoundingClientRect(); const i = document.querySelector('.boxed img').getBoundingClientRect(); return r.left >= i.left - 1 && r.right <= i.right + 1 && r.top >= i.top - 1 && r.bottom <= i.bottom + 1 && r.width > 10; }));
  check('detect: no-JS result draws one box per entry, inside the photo', boxes.length === listed.length && boxes.every(Boolean), JSON.stringify(boxes));
  check('detect: no-JS result used the form\'s confidence', /≥ 0\.35/.test(await plain.textContent('.lead')));
  await plain.screenshot({ path: path.join(artifacts, 'detect-nojs-result.png'), fullPage: true });
  await nojs.close();
}
