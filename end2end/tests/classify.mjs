// Classification: upload eagle.jpg, top-1 is kite or bald eagle with a percentage and a bar;
// the "show" selector re-slices with no request; URL paste runs once; a text file and an
// oversized file are refused in the browser with the limit named; a 429 and a 503 (faked at
// the network layer) show the server's message and Retry, which runs again and clears it; the
// elapsed time ticks while a run is in flight; without JavaScript the form posts to
// /classify/result and gets a server-rendered result page.
import path from 'node:path';
import { check, openPage, errorText, textFile, waitForRun, phoneFit } from '../lib.mjs';

const items = (page) => page.$$eval('#top-k li', (els) => els.map((e) => ({
  label: e.querySelector('.label').textContent,
  pct: e.querySelector('.pct').textContent,
  bar: e.querySelector('.bar span').style.width,
})));

export default async function classify({ browser, base, samples, artifacts, imageUrl }) {
  const photo = path.join(samples, 'eagle.jpg');
  const { page, errors, apiCalls, apiStatuses } = await openPage(browser, base + '/classify');
  check('classify: server-rendered heading', (await page.textContent('h1')) === 'Image classification');

  await page.setInputFiles('#file', photo);
  await waitForRun(page, 'efficientnet');
  const top = await items(page);
  check('classify: one API request', apiCalls.length === 1 && apiCalls[0].includes('/site/classify?model=efficientnet-lite0'), JSON.stringify(apiCalls));
  check('classify: five shown by default', top.length === 5, String(top.length));
  check('classify: top-1 is kite or bald eagle', /^(kite|bald eagle)/.test(top[0]?.label), JSON.stringify(top[0]));
  check('classify: percentage and bar', /^\d+\.\d%$/.test(top[0]?.pct) && parseFloat(top[0]?.bar) > 10, JSON.stringify(top[0]));
  await page.screenshot({ path: path.join(artifacts, 'classify-desktop.png'), fullPage: true });

  const calls0 = apiCalls.length;
  await page.selectOption('#top-k-count', '20');
  await page.waitForTimeout(200);
  check('classify: top-20 re-sliced with no request', (await items(page)).length === 20 && apiCalls.length === calls0, `${(await items(page)).length} items, ${apiCalls.length - calls0} calls`);
  await page.selectOption('#top-k-count', '3');

  await page.fill('#image-url', imageUrl('eagle.jpg'));
  await page.click('#url-form button[type=submit]');
  await page.waitForFunction((n) => performance.getEntriesByType('resource').filter((e) => e.name.includes('/site/classify')).length > n && !document.querySelector('#status')?.textContent.trim(), calls0, { timeout: 30000 });
  await page.waitForTimeout(200);
  const viaUrl = await items(page);
  check('classify: URL paste runs once and answers', apiCalls.length === calls0 + 1 && apiStatuses.at(-1) === 200 && /^(kite|bald eagle)/.test(viaUrl[0]?.label), `${apiCalls.length - calls0} calls, ${JSON.stringify(viaUrl[0])}`);

  check('classify: the server\'s limits are shown', /up to 16 MiB/.test(await page.textContent('#limits')));
  const calls1 = apiCalls.length;
  await page.setInputFiles('#file', textFile);
  const err = await errorText(page);
  check('classify: a text file is refused in the browser', /text\/plain/.test(err) && /JPEG, PNG/.test(err) && apiCalls.length === calls1, JSON.stringify(err));
  await page.setInputFiles('#file', { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(17 * 1024 * 1024, 1) });
  await page.waitForFunction(() => /MiB/.test(document.querySelector('#error')?.textContent), null, { timeout: 10000 });
  const big = await page.textContent('#error');
  check('classify: a 17 MiB file is refused before upload', /17\.0 MiB/.test(big) && /up to 16 MiB/.test(big) && apiCalls.length === calls1, JSON.stringify(big));

  // The server is busy: the first try gets a 429 with Retry-After, the second goes through.
  // (A server function's error body carries `retry_after`: its caller sees no headers.)
  const classifyFn = (u) => u.pathname === '/site/classify';
  let fakes = [
    { status: 429, retry: '1', body: { error: "model 'efficientnet-lite0' queue is full (8 waiting)", type: 'overloaded', code: 429, retry_after: 1 } },
    { status: 503, retry: '5', body: { error: "model 'efficientnet-lite0' is warming up; retry shortly", type: 'not_ready', code: 503, retry_after: 5 } },
  ];
  await page.route(classifyFn, (route) => {
    const f = fakes.shift();
    if (!f) return route.continue();
    return route.fulfill({ status: f.status, headers: { 'retry-after': f.retry, 'content-type': 'application/json' }, body: JSON.stringify(f.body) });
  });
  await page.click('button.example[data-sample="eagle.jpg"]');
  const busy = await errorText(page);
  check('classify: a 429 shows the server\'s message and Retry-After', /queue is full \(8 waiting\)/.test(busy) && /429 overloaded/.test(busy) && /retry in 1 s/.test(busy), JSON.stringify(busy));
  check('classify: a 429 offers Retry', await page.isVisible('#retry-button'));
  await page.screenshot({ path: path.join(artifacts, 'classify-429.png'), fullPage: true });
  await page.click('#retry-button');
  await page.waitForFunction(() => /503/.test(document.querySelector('#error')?.textContent), null, { timeout: 10000 });
  const warming = await page.textContent('#error');
  check('classify: a 503 shows the server\'s message', /warming up/.test(warming) && /503 not_ready/.test(warming) && /retry in 5 s/.test(warming), JSON.stringify(warming));
  await page.unroute(classifyFn);
  // A slow answer: the elapsed time ticks while it is in flight.
  await page.route(classifyFn, async (route) => { await new Promise((r) => setTimeout(r, 1500)); await route.continue(); });
  const calls2 = apiCalls.length;
  await page.click('#retry-button');
  await page.waitForFunction(() => parseFloat(document.querySelector('#elapsed')?.textContent) >= 1.0, null, { timeout: 10000 });
  check('classify: elapsed time shown while running', /^Running… \d+\.\d s$/.test((await page.textContent('#status')).trim()), await page.textContent('#status'));
  await waitForRun(page, 'efficientnet');
  await page.unroute(classifyFn);
  const retried = await items(page);
  check('classify: Retry runs again on the same photo and clears the error', apiCalls.length === calls2 + 1 && (await page.textContent('#error')).trim() === '' && !(await page.$('#retry-button')) && /^(kite|bald eagle)/.test(retried[0]?.label), JSON.stringify(retried[0]));
  const json = JSON.parse(await page.textContent('#json-sample'));
  check('classify: JSON sample follows "show the top"', json.top_k.length === 3, String(json.top_k?.length));
  await page.screenshot({ path: path.join(artifacts, 'classify-error.png'), fullPage: true });
  const fit = await phoneFit(page);
  check('classify: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'classify-phone.png'), fullPage: true });
  check('classify: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/classify');
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#classify-button')]);
  const plainTop = await plain.$$eval('#top-k li .label', (ls) => ls.map((l) => l.textContent)).catch(() => []);
  check('classify: no-JS form post answers a server-rendered result page', resp.status() === 200 && (await plain.textContent('h1')) === 'Classification result' && plainTop.length === 5 && /^(kite|bald eagle)/.test(plainTop[0]), `${resp.status()} ${JSON.stringify(plainTop)}`);
  await plain.screenshot({ path: path.join(artifacts, 'classify-nojs-result.png'), fullPage: true });
  await nojs.close();
}
