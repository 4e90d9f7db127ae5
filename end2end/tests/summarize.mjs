// Summarization: type a paragraph, the summary grows over several updates (streamed), then
// tokens/s appears; one request, which Stop aborts; an over-long text is flagged and cannot be
// sent. Without JavaScript the form posts to /summarize/result and gets a server-rendered
// summary page.
import path from 'node:path';
import { check, openPage, phoneFit } from '../lib.mjs';

const PARAGRAPH = 'The city council voted on Tuesday to turn the old railway depot into a public library '
  + 'and community workshop. The project will cost about four million euros, paid partly by a regional '
  + 'grant, and construction is planned to start next spring. Supporters said the neighbourhood has lacked '
  + 'a library for twenty years, while critics worried about parking and the loss of the depot\'s historic '
  + 'facade, which the architects have promised to keep.';

export default async function summarize({ browser, base, artifacts }) {
  const { page, errors, apiCalls } = await openPage(browser, base + '/summarize');
  check('summarize: server-rendered heading', (await page.textContent('h1')) === 'Summarization');
  await page.fill('#text', PARAGRAPH);
  check('summarize: character count', (await page.textContent('#char-count')) === `${PARAGRAPH.length} / 20000 characters`, await page.textContent('#char-count'));
  await page.fill('#max-tokens', '48');
  // Record the summary's length every time it changes, in the page.
  await page.evaluate(() => {
    window.__lengths = [];
    new MutationObserver(() => window.__lengths.push(document.querySelector('#summary').textContent.length))
      .observe(document.querySelector('#summary'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('#summarize-button');
  await page.waitForFunction(() => /tokens\/s/.test(document.querySelector('#tokens-per-s')?.textContent) && !document.querySelector('#status')?.textContent, null, { timeout: 60000 });
  const lengths = await page.evaluate(() => window.__lengths);
  const distinct = new Set(lengths.filter((n) => n > 0)).size;
  check('summarize: the summary grew over several updates (streamed)', distinct >= 5, JSON.stringify(lengths.slice(0, 20)));
  const summary = (await page.textContent('#summary')).trim();
  check('summarize: a non-trivial summary', summary.length > 20 && summary.length < PARAGRAPH.length * 1.5, JSON.stringify(summary));
  const stats = await page.textContent('#tokens-per-s');
  check('summarize: tokens/s shown', /[\d.]+ tokens\/s/.test(stats) && stats.startsWith('smollm2'), stats);
  check('summarize: one API request', apiCalls.length === 1 && apiCalls[0].endsWith('/site/summarize'), JSON.stringify(apiCalls));
  await page.screenshot({ path: path.join(artifacts, 'summarize-desktop.png'), fullPage: true });

  // Stop after the first tokens: the stream is aborted, the text so far stays, no error.
  const aborted = [];
  page.on('requestfailed', (r) => aborted.push(`${new URL(r.url()).pathname} ${r.failure()?.errorText}`));
  await page.fill('#max-tokens', '200');
  await page.click('#summarize-button');
  await page.waitForFunction(() => document.querySelector('#summary')?.textContent.length > 10, null, { timeout: 30000 });
  await page.click('#stop-button');
  await page.waitForFunction(() => /stopped$/.test(document.querySelector('#tokens-per-s')?.textContent), null, { timeout: 5000 });
  // The browser reports the aborted fetch as an event that can arrive after the page shows
  // "stopped", so give it a moment before reading the list.
  for (let i = 0; i < 40 && aborted.length === 0; i++) await page.waitForTimeout(50);
  const stopped = await page.textContent('#summary');
  const stopErr = (await page.textContent('#error')).trim();
  check('summarize: Stop keeps the partial text and shows no error', stopped.length > 10 && stopErr === '', JSON.stringify([stopped, stopErr]));
  check('summarize: Stop aborts the request (the server stops generating)', aborted.includes('/site/summarize net::ERR_ABORTED'), JSON.stringify(aborted));

  // Over the server's limit: the count says so and the button is off, so nothing is sent.
  await page.fill('#text', 'x'.repeat(20005));
  const over = await page.textContent('#char-count');
  check('summarize: over-long text is flagged and cannot be sent', /5 over the server's limit/.test(over) && await page.isDisabled('#summarize-button'), over);

  await page.fill('#text', '   ');
  await page.click('#summarize-button');
  await page.waitForTimeout(200);
  check('summarize: blank text is refused with a message', /Paste some text/.test(await page.textContent('#error')) && apiCalls.length === 2, `${apiCalls.length} calls`);

  const fit = await phoneFit(page);
  check('summarize: fits a 375 px phone', fit.length === 0, fit.join('; '));
  await page.screenshot({ path: path.join(artifacts, 'summarize-phone.png'), fullPage: true });
  check('summarize: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();

  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await nojs.newPage();
  await plain.goto(base + '/summarize');
  await plain.fill('#text', PARAGRAPH);
  await plain.fill('#max-tokens', '24');
  const [resp] = await Promise.all([plain.waitForNavigation({ timeout: 60000 }), plain.click('#summarize-button')]);
  const text = (await plain.textContent('#summary')).trim();
  const nojsStats = await plain.textContent('#tokens-per-s');
  check('summarize: no-JS form posts and gets a result page', resp.status() === 200 && resp.url().endsWith('/summarize/result') && text.length > 20, `${resp.status()} ${resp.url()} ${text.slice(0, 80)}`);
  const n = parseInt(nojsStats.split(' · ')[1], 10);
  check('summarize: no-JS result honours max and shows the speed', n > 0 && n <= 24 && /tokens\/s/.test(nojsStats), nojsStats);
  await plain.screenshot({ path: path.join(artifacts, 'summarize-nojs.png'), fullPage: true });
  await nojs.close();
}
