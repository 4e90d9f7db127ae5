// Segmentation: upload person.jpg, the overlay appears; sliders redraw with no new request and
// the legend's person share follows the threshold; the before/after split moves with its
// slider; the downloads are a real PNG mask, overlay and JSON; "Use via API" names the input
// and settings; a text file is refused in the browser and a fake JPEG gets the server's 415;
// drag-and-drop, paste, an example, a model switch and URL paste each run once; without
// JavaScript the form posts to /segment/result and gets a server-rendered result page.
import fs from 'node:fs';
import path from 'node:path';
import { check, openPage, errorText, slide, textFile, fakeJpeg, waitForRun, pasteFile, download, phoneFit } from '../lib.mjs';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

export default async function segment({ browser, base, samples, artifacts, imageUrl }) {
  const photo = path.join(samples, 'person.jpg');
  const { page, errors, apiCalls, apiStatuses } = await openPage(browser, base + '/segment');
  check('segment: server-rendered heading', (await page.textContent('h1')) === 'Person segmentation');

  await page.setInputFiles('#file', photo);
  await waitForRun(page, 'selfie');
  check('segment: one API request for the upload', apiCalls.length === 1, JSON.stringify(apiCalls));
  const latency = await page.textContent('#latency');
  check('segment: latency split into queue and inference', /queue [\d.]+ ms · inference [\d.]+ ms/.test(latency), latency);
  const parts = await page.$$eval('#segment-breakdown dt', (ds) => ds.map((d) => d.textContent));
  check('segment: latency breakdown lists the stages', ['Queue', 'Inference', 'Network and browser'].every((p) => parts.includes(p)), JSON.stringify(parts));
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
  const personShare = async () => parseFloat(await page.textContent('#legend li:first-child .share'));
  const before = await hash();
  const share = before.tinted / before.total;
  check('segment: overlay tints a person-sized region (2-15 % of pixels)', share > 0.02 && share < 0.15, share.toFixed(4));
  const legend0 = await page.$$eval('#legend li', (ls) => ls.map((l) => [l.querySelector('.label').textContent, l.querySelector('.swatch').style.background]));
  check('segment: legend names person (orange) and background', legend0[0]?.[0] === 'person' && /230, 159, 0/.test(legend0[0]?.[1]) && legend0[1]?.[0] === 'background', JSON.stringify(legend0));
  const share0 = await personShare();
  check('segment: legend share matches the tinted pixels', Math.abs(share0 - share * 100) < 0.2, `${share0} vs ${(share * 100).toFixed(2)}`);
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
  check('segment: legend share grows as the threshold drops', (await personShare()) > share0, `${share0} -> ${await personShare()}`);
  await slide(page, '#opacity', 0.2);
  await page.waitForTimeout(300);
  const faint = await hash();
  check('segment: opacity slider changes the overlay', faint.h !== low.h);

  // Hovering a legend row lights its pixels and dims the rest; leaving restores the view.
  const lum = (x, y) => page.$eval('#overlay-canvas', (c, [x, y]) => { const d = c.getContext('2d').getImageData(x, y, 1, 1).data; return d[0] + d[1] + d[2]; }, [x, y]);
  const sky0 = await lum(600, 20);
  const man0 = await lum(225, 230);
  await page.hover('#legend li:first-child');
  await page.waitForTimeout(200);
  const lit = await hash();
  check('segment: hovering "person" dims the background', (await lum(600, 20)) < sky0 * 0.5 && (await lum(225, 230)) === man0, `${sky0} -> ${await lum(600, 20)}`);
  check('segment: the hovered legend row is marked', await page.$eval('#legend li:first-child', (l) => l.classList.contains('highlighted')));
  await page.hover('#legend li:nth-child(2)');
  await page.waitForTimeout(200);
  check('segment: hovering "background" dims the person', (await lum(225, 230)) < man0 * 0.5 && (await lum(600, 20)) === sky0, `${man0} -> ${await lum(225, 230)}`);
  await page.hover('h1');
  await page.waitForTimeout(200);
  check('segment: leaving the legend restores the overlay', (await hash()).h === faint.h && lit.h !== faint.h);
  // Keyboard: the rows take focus, and focus highlights as hover does.
  await page.focus('#legend li:first-child');
  await page.waitForTimeout(200);
  check('segment: a focused legend row highlights too', (await lum(600, 20)) < sky0 * 0.5);
  await page.$eval('#legend li:first-child', (l) => l.blur());
  await page.waitForTimeout(200);

  // Before/after split: the overlay is laid over the original and cut where the slider says.
  await page.check('#split-toggle');
  await page.waitForSelector('#split');
  await slide(page, '#split', 30);
  await page.waitForTimeout(200);
  const clip = await page.$eval('.overlay-figure', (f) => getComputedStyle(f).clipPath);
  const boxes = await page.$$eval('#views figure', (fs) => fs.map((f) => { const r = f.getBoundingClientRect(); return [Math.round(r.x), Math.round(r.y)]; }));
  check('segment: split view stacks the overlay on the original', JSON.stringify(boxes[0]) === JSON.stringify(boxes[1]), JSON.stringify(boxes));
  check('segment: split slider moves the cut', /30%/.test(clip), clip);
  await page.screenshot({ path: path.join(artifacts, 'segment-split.png'), fullPage: true });
  await page.uncheck('#split-toggle');

  const mask = await download(page, '#download-mask');
  check('segment: mask download is a PNG', mask.name === 'selfie-mask.png' && mask.bytes.subarray(0, 4).equals(PNG), `${mask.name} ${mask.bytes.length} bytes`);
  const overlay = await download(page, '#download-overlay');
  check('segment: overlay download is a PNG', overlay.name === 'selfie-overlay.png' && overlay.bytes.subarray(0, 4).equals(PNG) && overlay.bytes.length > 10000, `${overlay.name} ${overlay.bytes.length} bytes`);
  const json = await download(page, '#download-json');
  const parsed = JSON.parse(json.bytes.toString());
  check('segment: JSON download is the answer', json.name === 'selfie.json' && parsed.model === 'selfie' && parsed.width === 640, json.name);
  check('segment: sliders, legend hover, split and downloads made no new request', apiCalls.length === callsBefore, JSON.stringify(apiCalls.slice(callsBefore)));

  await page.click('#use-api summary');
  const curl = await page.textContent('#curl-command');
  check('segment: curl names the file, model and threshold', curl === `curl -F 'file=@person.jpg' '${base}/api/v1/segment/selfie?output=json&threshold=0.05'`, curl);
  const sample = JSON.parse(await page.textContent('#json-sample'));
  check('segment: JSON sample without the embedded images', sample.model === 'selfie' && !('image_png' in sample) && Array.isArray(sample.classes), Object.keys(sample).join(','));

  // Checked in the browser: a text file never uploads.
  const calls0 = apiCalls.length;
  await page.setInputFiles('#file', textFile);
  const refused = await errorText(page);
  check('segment: a text file is refused before upload', /text\/plain/.test(refused) && apiCalls.length === calls0, `${JSON.stringify(refused)}, ${apiCalls.length - calls0} calls`);
  await page.setInputFiles('#file', fakeJpeg);
  await page.waitForFunction(() => /415/.test(document.querySelector('#error')?.textContent), null, { timeout: 10000 });
  const err = await errorText(page);
  check('segment: a fake JPEG shows the server\'s own 415 message', /not an image/.test(err) && /415 unsupported_media_type/.test(err), JSON.stringify(err));
  check('segment: no Retry offered for a bad file', !(await page.$('#retry-button')));

  // Drag-and-drop a photo onto the drop zone: the error clears and a new result arrives.
  const calls1 = apiCalls.length;
  const b64 = fs.readFileSync(photo).toString('base64');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'person.jpg', { type: 'image/jpeg' }));
    document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => document.querySelector('#error')?.textContent.trim() === '' && !document.querySelector('#status')?.textContent.trim(), null, { timeout: 30000 });
  check('segment: drag-and-drop runs the model', apiCalls.length === calls1 + 1, JSON.stringify(apiCalls.slice(calls1)));

  // Paste an image from the clipboard anywhere on the page.
  const calls2 = apiCalls.length;
  await page.evaluate(() => document.querySelector('#overlay-canvas').getContext('2d').clearRect(0, 0, 9999, 9999));
  await pasteFile(page, path.join(samples, 'horses.jpg'), 'pasted.jpg');
  await waitForRun(page, 'selfie');
  await page.click('#use-api summary').catch(() => {});
  check('segment: a pasted image runs once', apiCalls.length === calls2 + 1 && (await page.textContent('#curl-command')).includes('file=@pasted.jpg'), `${apiCalls.length - calls2} calls`);

  // An example from the strip: the photo comes from GET /samples/{name}.
  const calls3 = apiCalls.length;
  const [sampleResp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/samples/person.jpg') && r.request().resourceType() === 'fetch'),
    page.click('button.example[data-sample="person.jpg"]'),
  ]);
  await waitForRun(page, 'selfie');
  const afterExample = await hash();
  check('segment: an example runs once on the served sample', sampleResp.status() === 200 && apiCalls.length === calls3 + 1 && afterExample.tinted > 0.02 * afterExample.total, `${sampleResp.status()} ${apiCalls.length - calls3} calls`);

  await page.selectOption('#model', 'meet');
  await waitForRun(page, 'meet');
  check('segment: model switch re-runs with Meet', apiCalls.at(-1).includes('/site/segment?model=meet'), apiCalls.at(-1));
  const info = await page.textContent('#model-info');
  check('segment: picker shows Meet\'s input size, licence and source', /input 256×144/.test(info) && /Apache-2\.0/.test(info) && /source: /.test(info), info);

  await page.fill('#image-url', imageUrl('person.jpg'));
  const calls4 = apiCalls.length;
  await page.click('#url-form button[type=submit]');
  await waitForRun(page, 'meet');
  await page.waitForTimeout(200);
  const afterUrl = await hash();
  check('segment: URL paste runs the model on the fetched image', apiCalls.length === calls4 + 1 && apiStatuses.at(-1) === 200, `${apiCalls.length - calls4} calls, last status ${apiStatuses.at(-1)}`);
  check('segment: URL paste shows an overlay', afterUrl.tinted > 0.02 * afterUrl.total, String(afterUrl.tinted));
  const curlUrl = await page.textContent('#curl-command');
  check('segment: curl for a URL posts it as JSON', curlUrl.includes(`"image_url":"${imageUrl('person.jpg')}"`) && curlUrl.includes('/api/v1/segment/meet?'), curlUrl);

  const fit = await phoneFit(page);
  check('segment: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'segment-phone.png'), fullPage: true });
  check('segment: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  // Without JavaScript the same form posts to /segment and the browser gets the overlay PNG.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/segment');
  check('segment: examples hidden without JavaScript', !(await plain.isVisible('.examples')));
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#segment-button')]);
  check('segment: no-JS form post answers a server-rendered page', resp.status() === 200 && /text\/html/.test(resp.headers()['content-type']) && (await plain.textContent('h1')) === 'Segmentation result', `${resp.status()} ${resp.headers()['content-type']}`);
  const rows = await plain.$$eval('#legend li', (ls) => ls.map((l) => [l.querySelector('.label').textContent, parseFloat(l.querySelector('.share').textContent)]));
  const person = rows.find((r) => r[0] === 'person');
  check('segment: no-JS result lists the person share', person && person[1] > 2 && person[1] < 15, JSON.stringify(rows));
  const imgs = await plain.$$eval('main img', (is) => is.map((i) => [i.alt, i.naturalWidth]));
  check('segment: no-JS result shows the photo and the overlay, with alt text', imgs.length === 2 && imgs.every(([alt, w]) => alt.length > 5 && w === 640) && /person/.test(imgs[1][0]), JSON.stringify(imgs));
  check('segment: no-JS result shows the latency', /selfie · 640×424 · queue [\d.]+ ms · inference [\d.]+ ms/.test(await plain.textContent('#latency')));
  await plain.screenshot({ path: path.join(artifacts, 'segment-nojs-result.png'), fullPage: true });
  await plain.goto(base + '/segment');
  await plain.setInputFiles('#file', fakeJpeg);
  const [bad] = await Promise.all([plain.waitForNavigation(), plain.click('#segment-button')]);
  const badText = await plain.textContent('#error');
  check('segment: no-JS error page carries the server\'s message and status', bad.status() === 415 && /not an image/.test(badText) && /415/.test(badText), `${bad.status()} ${badText}`);
  await nojs.close();
}
