// Home: one card per task linking to its page; the header nav navigates (client-side once
// hydrated) and marks the current page; GET /samples/{name} serves only the five photos.
import path from 'node:path';
import { check, openPage, phoneFit } from '../lib.mjs';

export default async function home({ browser, base, artifacts }) {
  const { page, errors } = await openPage(browser, base + '/');
  const cards = await page.$$eval('.card h2 a', (as) => as.map((a) => a.getAttribute('href')));
  check('home: a card per task', JSON.stringify(cards) === JSON.stringify(['/segment', '/detect', '/classify', '/summarize']), JSON.stringify(cards));
  check('home: cards name the default model', (await page.$$eval('.card .model', (ps) => ps.map((p) => p.textContent))).every((t) => t.startsWith('Default model: ')));
  await page.screenshot({ path: path.join(artifacts, 'home-desktop.png'), fullPage: true });
  await page.click('nav a[href="/detect"]');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Object detection', null, { timeout: 10000 });
  check('home: nav goes to Detect and marks it current', (await page.getAttribute('nav a[href="/detect"]', 'aria-current')) === 'page');
  check('home: the header links to Compare', (await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')))).includes('/compare'));
  // Each card's "try it" link opens its page and runs the default model on the example once.
  for (const [task, model] of [['detect', 'nanodet'], ['classify', 'efficientnet-lite0']]) {
    const { page: p, apiCalls, errors: errs } = await openPage(browser, base + '/');
    await p.click(`.card a.try[href^="/${task}?example="]`);
    await p.waitForFunction((m) => document.querySelector('#latency')?.textContent.startsWith(m), model, { timeout: 30000 });
    check(`home: "try it" runs ${model} on its example, once`, apiCalls.length === 1 && apiCalls[0].includes(`/site/${task === 'detect' ? 'detect' : 'classify'}?model=${model}`), JSON.stringify(apiCalls));
    check(`home: no page errors after trying ${task}`, errs.length === 0, errs.join('\n'));
    await p.close();
  }
  {
    const { page: p, apiCalls } = await openPage(browser, base + '/');
    await p.click('.card a.try[href="/summarize?example=news"]');
    await p.waitForFunction(() => /tokens\/s/.test(document.querySelector('#tokens-per-s')?.textContent) && !document.querySelector('#status')?.textContent, null, { timeout: 60000 });
    const text = await p.inputValue('#text');
    check('home: "try it" summarizes the sample story', text.startsWith('The city council') && apiCalls.length === 1 && (await p.textContent('#summary')).trim().length > 20, JSON.stringify(apiCalls));
    await p.close();
  }
  check('home: no page errors', errors.length === 0, errors.join('\n'));
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(base + '/');
  const fit = await phoneFit(page);
  check('home: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'home-phone.png'), fullPage: true });
  await page.close();

  // GET /samples/{name}: the five bundled photos as JPEG; anything else a JSON 404.
  const dog = await fetch(`${base}/samples/dog.jpg`);
  const bytes = Buffer.from(await dog.arrayBuffer());
  check('samples: dog.jpg is served as a JPEG', dog.status === 200 && dog.headers.get('content-type') === 'image/jpeg' && bytes[0] === 0xff && bytes[1] === 0xd8, `${dog.status} ${dog.headers.get('content-type')}`);
  for (const name of ['cat.jpg', '..%2FCargo.toml', 'selfie']) {
    const r = await fetch(`${base}/samples/${name}`);
    const body = await r.json().catch(() => ({}));
    check(`samples: ${name} is a JSON 404`, r.status === 404 && body.type === 'not_found' && body.code === 404 && /samples: person\.jpg/.test(body.error), `${r.status} ${JSON.stringify(body)}`);
  }
}
