// Compare: an example photo runs both picked models, one request each, one after the other;
// each side shows its own drawing, findings and latency split; switching the task picks that
// task's models and runs again on the same photo; changing one model re-runs both.
import path from 'node:path';
import { check, openPage, canvasHash, phoneFit } from '../lib.mjs';

const idle = (page) => page.waitForFunction(() => !document.querySelector('#status')?.textContent.trim()
  && document.querySelector('#latency-b')?.textContent.includes('inference'), null, { timeout: 60000 });
const found = (page, side) => page.$$eval(`#found-${side} li`, (ls) => ls.map((l) => l.textContent));

export default async function compare({ browser, base, artifacts }) {
  const { page, errors, apiCalls } = await openPage(browser, base + '/compare');
  check('compare: server-rendered heading', (await page.textContent('h1')) === 'Compare models');
  check('compare: defaults to the two detectors', (await page.inputValue('#model-a')) === 'nanodet' && (await page.inputValue('#model-b')) === 'centernet');

  await page.click('button.example[data-sample="dog.jpg"]');
  await idle(page);
  check('compare: one request per model, in order', apiCalls.length === 2 && apiCalls[0].includes('/site/detect?model=nanodet') && apiCalls[1].includes('/site/detect?model=centernet'), JSON.stringify(apiCalls));
  const [la, lb] = [await page.textContent('#latency-a'), await page.textContent('#latency-b')];
  check('compare: each side has its own latency', la.startsWith('nanodet') && lb.startsWith('centernet') && /inference [\d.]+ ms/.test(la) && /inference [\d.]+ ms/.test(lb), `${la} | ${lb}`);
  const [fa, fb] = [await found(page, 'a'), await found(page, 'b')];
  check('compare: both detectors find the dog', fa.some((l) => l.startsWith('dog')) && fb.some((l) => l.startsWith('dog')), JSON.stringify([fa, fb]));
  const sizes = await page.$$eval('.compare-grid canvas', (cs) => cs.map((c) => `${c.width}x${c.height}`));
  check('compare: both drawings at the photo size', JSON.stringify(sizes) === '["768x576","768x576"]', JSON.stringify(sizes));
  check('compare: the two drawings differ', (await canvasHash(page, '#compare-a')) !== (await canvasHash(page, '#compare-b')));
  check('compare: each side has a latency breakdown', (await page.$$('#compare-a-breakdown .seg, #compare-b-breakdown .seg')).length === 12);
  await page.screenshot({ path: path.join(artifacts, 'compare-desktop.png'), fullPage: true });

  await page.selectOption('#compare-task', 'segment');
  await page.waitForFunction(() => document.querySelector('#latency-b')?.textContent.startsWith('meet') && !document.querySelector('#status')?.textContent.trim(), null, { timeout: 60000 });
  check('compare: switching task runs its two models on the same photo', apiCalls.length === 4 && apiCalls[2].includes('/site/segment?model=selfie') && apiCalls[3].includes('/site/segment?model=meet'), JSON.stringify(apiCalls.slice(2)));
  const sa = await found(page, 'a');
  check('compare: segmentation sides report the person share', /^person \d+\.\d%$/.test(sa[0]), JSON.stringify(sa));

  await page.selectOption('#model-b', 'selfie');
  await page.waitForFunction(() => document.querySelector('#latency-b')?.textContent.startsWith('selfie') && !document.querySelector('#status')?.textContent.trim(), null, { timeout: 60000 });
  check('compare: changing one model re-runs both', apiCalls.length === 6 && apiCalls[5].includes('/site/segment?model=selfie'), JSON.stringify(apiCalls.slice(4)));

  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(200);
  const fit = await phoneFit(page);
  check('compare: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'compare-phone.png'), fullPage: true });
  check('compare: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();
}
