// Shared e2e helpers: pass/fail counting, hydration wait, API request tracking, error reading.
export const results = { passed: 0, failed: 0 };
export const check = (name, ok, detail = '') => {
  if (ok) { results.passed++; console.log(`  ok   ${name}`); } else { results.failed++; console.log(`  FAIL ${name} ${detail}`); }
};

// Opens `url` in a fresh page with API request/response tracking, waits for hydration.
export async function openPage(browser, url, viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Model runs only (POSTs to the site's server functions, /site/...; the API, /api/...): the
  // pickers' one GET /api/v1/models is not a run.
  const isRun = (r) => /\/(site|api)\//.test(new URL(r.url()).pathname) && r.method() === 'POST';
  const apiCalls = [];
  page.on('request', (r) => { if (isRun(r)) apiCalls.push(r.url()); });
  const apiStatuses = [];
  page.on('response', (r) => { if (isRun(r.request())) apiStatuses.push(r.status()); });
  await page.goto(url);
  await page.waitForSelector('body[data-hydrated]', { timeout: 20000 });
  return { page, errors, apiCalls, apiStatuses };
}

// The error line's text once it is non-empty.
export async function errorText(page, timeout = 10000) {
  const h = await page.waitForFunction(() => {
    const t = document.querySelector('#error')?.textContent.trim();
    return t || null;
  }, null, { timeout });
  return h.jsonValue();
}

// Sets a range input and fires `input`, as a drag would.
export const slide = (page, sel, value) => page.$eval(sel, (el, v) => {
  el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true }));
}, value);

// A cheap fingerprint of a canvas's pixels.
export const canvasHash = (page, sel) => page.$eval(sel, (c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) >>> 0;
  return h;
});

export const textFile = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') };

// A file with an image's name and type whose bytes are not an image: passes the browser's
// checks, so the server's own 415 message must show.
export const fakeJpeg = { name: 'fake.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not an image at all') };

// Waits until the page is idle (no run in flight) and the latency line starts with `model`.
export const waitForRun = (page, model, timeout = 30000) => page.waitForFunction(
  (m) => document.querySelector('#latency')?.textContent.startsWith(m) && !document.querySelector('#status')?.textContent.trim(),
  model, { timeout },
);

// Pastes `file` (path on disk) as if from the clipboard, on the document.
export async function pasteFile(page, file, name, type = 'image/jpeg') {
  const b64 = (await import('node:fs')).readFileSync(file).toString('base64');
  await page.evaluate(([b64, name, type]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type }));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, [b64, name, type]);
}

// Clicks `sel` and returns the download's suggested name and bytes.
export async function download(page, sel) {
  const [d] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click(sel)]);
  const fs = await import('node:fs');
  return { name: d.suggestedFilename(), bytes: fs.readFileSync(await d.path()) };
}

// At a phone width: the page does not scroll sideways and no control sticks out of its panel.
// Returns what is wrong (empty when all fits).
export async function phoneFit(page, width = 375) {
  await page.setViewportSize({ width, height: 800 });
  await page.waitForTimeout(200);
  return page.evaluate((w) => {
    const wrong = [];
    const sw = document.documentElement.scrollWidth;
    if (sw > w) wrong.push(`page scrolls sideways (${sw} px)`);
    for (const el of document.querySelectorAll('input, select, textarea, button, canvas, img')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue; // hidden
      // Inside a sideways scroller (the examples strip) overflow is the design.
      let scroller = el.parentElement;
      while (scroller && !['auto', 'scroll'].includes(getComputedStyle(scroller).overflowX)) scroller = scroller.parentElement;
      if (scroller) continue;
      const panel = el.closest('.panel, figure, .card') || document.body;
      const p = panel.getBoundingClientRect();
      if (r.right > p.right + 0.5 || r.left < p.left - 0.5) wrong.push(`${el.tagName.toLowerCase()}#${el.id || '?'} ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(p.left)}..${Math.round(p.right)}`);
    }
    return wrong;
  }, width);
}
