// Classification: upload eagle.jpg, top-1 is kite or bald eagle with a percentage and a bar;
// the "show" selector re-slices with no request; URL paste runs once; a text file shows the
// server's 415; without JavaScript /predict/image_classes answers JSON.
import path from 'node:path';
import { check, openPage, errorText, textFile } from '../lib.mjs';

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
  await page.waitForFunction(() => document.querySelector('#latency')?.textContent.startsWith('efficientnet'), null, { timeout: 30000 });
  const top = await items(page);
  check('classify: one API request', apiCalls.length === 1 && apiCalls[0].includes('/api/v1/classify/efficientnet-lite0'), JSON.stringify(apiCalls));
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
  await page.waitForFunction((n) => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).length > n && !document.querySelector('#status')?.textContent, calls0, { timeout: 30000 });
  await page.waitForTimeout(200);
  const viaUrl = await items(page);
  check('classify: URL paste runs once and answers', apiCalls.length === calls0 + 1 && apiStatuses.at(-1) === 200 && /^(kite|bald eagle)/.test(viaUrl[0]?.label), `${apiCalls.length - calls0} calls, ${JSON.stringify(viaUrl[0])}`);

  await page.setInputFiles('#file', textFile);
  const err = await errorText(page);
  check('classify: a text file shows the server\'s 415', /not an image/.test(err) && /415/.test(err), JSON.stringify(err));
  await page.screenshot({ path: path.join(artifacts, 'classify-error.png'), fullPage: true });
  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: path.join(artifacts, 'classify-phone.png'), fullPage: true });
  check('classify: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/classify');
  await plain.setInputFiles('#file', photo);
  const [resp] = await Promise.all([plain.waitForNavigation(), plain.click('#classify-button')]);
  const body = await resp.json().catch(() => ({}));
  check('classify: no-JS form post answers JSON', resp.status() === 200 && /kite|eagle/.test(body.label || ''), `${resp.status()} ${JSON.stringify(body)}`);
  await nojs.close();
}
