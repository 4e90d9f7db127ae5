// Segmentation: upload person.jpg, the overlay appears; sliders redraw with no new request;
// a text file shows the server's 415; drag-drop, model switch and URL paste each run once;
// without JavaScript the form posts to /segment and answers the overlay PNG.
import fs from 'node:fs';
import path from 'node:path';
import { check, openPage, errorText, slide, textFile } from '../lib.mjs';

export default async function segment({ browser, base, samples, artifacts, imageUrl }) {
  const photo = path.join(samples, 'person.jpg');
  const { page, errors, apiCalls, apiStatuses } = await openPage(browser, base + '/segment');
  check('segment: server-rendered heading', (await page.textContent('h1')) === 'Person segmentation');

  await page.setInputFiles('#file', photo);
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.includes('model'), null, { timeout: 30000 });
  check('segment: one API request for the upload', apiCalls.length === 1, JSON.stringify(apiCalls));
  const latency = await page.textContent('#latency');
  check('segment: latency shown', /model [\d.]+ ms/.test(latency), latency);
  const size = await page.$eval('#overlay-canvas', (c) => [c.width, c.height]);
  check('segment: overlay at the photo size (640x424)', size[0] === 640 && size[1] === 424, JSON.stringify(size));

  const hash = () => page.$eval('#overlay-canvas', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let tinted = 0; let h = 0;
    for (let i = 0; i < d.length; i += 4) { h = (h * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0; }
    const o = document.querySelector('#original-canvas').getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) { if (d[i] !== o[i] || d[i + 2] !== o[i + 2]) tinted++; }
    return { h, tinted, total: d.length / 4 };
  });
  const before = await hash();
  const share = before.tinted / before.total;
  check('segment: overlay tints a person-sized region (2-15 % of pixels)', share > 0.02 && share < 0.15, share.toFixed(4));
  // The man stands at x ~ 190-270: sample the tint there and far right (the sky).
  const tintAt = (x, y) => page.$eval('#overlay-canvas', (c, [x, y]) => {
    const a = c.getContext('2d').getImageData(x, y, 1, 1).data;
    const b = document.querySelector('#original-canvas').getContext('2d').getImageData(x, y, 1, 1).data;
    return a[0] !== b[0] || a[2] !== b[2];
  }, [x, y]);
  check('segment: the man is tinted', await tintAt(225, 230));
  check('segment: the sky is not tinted', !(await tintAt(600, 20)));
  await page.screenshot({ path: path.join(artifacts, 'segment-desktop.png'), fullPage: true });

  const callsBefore = apiCalls.length;
  await slide(page, '#threshold', 0.05);
  await page.waitForTimeout(300);
  const low = await hash();
  check('segment: threshold slider changes the overlay', low.h !== before.h && low.tinted > before.tinted, `${before.tinted} -> ${low.tinted}`);
  await slide(page, '#opacity', 0.2);
  await page.waitForTimeout(300);
  const faint = await hash();
  check('segment: opacity slider changes the overlay', faint.h !== low.h);
  check('segment: sliders made no new request', apiCalls.length === callsBefore, JSON.stringify(apiCalls.slice(callsBefore)));

  await page.setInputFiles('#file', textFile);
  const err = await errorText(page);
  check('segment: a text file shows the server\'s error', /not an image/.test(err) && /415/.test(err), JSON.stringify(err));

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
  check('segment: drag-and-drop runs the model', apiCalls.length === calls0 + 1, JSON.stringify(apiCalls.slice(calls0)));

  await page.selectOption('#model', 'meet');
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('meet'), null, { timeout: 30000 });
  check('segment: model switch re-runs with Meet', apiCalls.at(-1).includes('/api/v1/segment/meet'), apiCalls.at(-1));

  await page.fill('#image-url', imageUrl('person.jpg'));
  const calls1 = apiCalls.length;
  await page.click('#url-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('meet') && !document.querySelector('#status')?.textContent, null, { timeout: 30000 });
  await page.waitForTimeout(200);
  const afterUrl = await hash();
  check('segment: URL paste runs the model on the fetched image', apiCalls.length === calls1 + 1 && apiStatuses.at(-1) === 200, `${apiCalls.length - calls1} calls, last status ${apiStatuses.at(-1)}`);
  check('segment: URL paste shows an overlay', afterUrl.tinted > 0.02 * afterUrl.total, String(afterUrl.tinted));

  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: path.join(artifacts, 'segment-phone.png'), fullPage: true });
  check('segment: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  // Without JavaScript the same form posts to /segment and the browser gets the overlay PNG.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/segment');
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#segment-button')]);
  check('segment: no-JS form post answers the overlay PNG', resp.status() === 200 && resp.headers()['content-type'] === 'image/png', `${resp.status()} ${resp.headers()['content-type']}`);
  await nojs.close();
}
