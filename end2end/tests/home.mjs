// Home: one card per task linking to its page; the header nav navigates (client-side once
// hydrated) and marks the current page.
import path from 'node:path';
import { check, openPage } from '../lib.mjs';

export default async function home({ browser, base, artifacts }) {
  const { page, errors } = await openPage(browser, base + '/');
  const cards = await page.$$eval('.card h2 a', (as) => as.map((a) => a.getAttribute('href')));
  check('home: a card per task', JSON.stringify(cards) === JSON.stringify(['/segment', '/detect', '/classify', '/summarize']), JSON.stringify(cards));
  check('home: cards name the default model', (await page.$$eval('.card .model', (ps) => ps.map((p) => p.textContent))).every((t) => t.startsWith('Default model: ')));
  await page.screenshot({ path: path.join(artifacts, 'home-desktop.png'), fullPage: true });
  await page.click('nav a[href="/detect"]');
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Object detection', null, { timeout: 10000 });
  check('home: nav goes to Detect and marks it current', (await page.getAttribute('nav a[href="/detect"]', 'aria-current')) === 'page');
  check('home: no page errors', errors.length === 0, errors.join('\n'));
  await page.close();
}
