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
  const apiCalls = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) apiCalls.push(r.url()); });
  const apiStatuses = [];
  page.on('response', (r) => { if (r.url().includes('/api/')) apiStatuses.push(r.status()); });
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
