// API docs: Swagger UI at /docs renders the server's own OpenAPI spec from local files only
// (every request the page makes goes to the server itself: no CDN), and "Try it out" reaches
// the live API.
import path from 'node:path';
import { check } from '../lib.mjs';

export default async function docs({ browser, base, artifacts }) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/docs');
  await page.waitForSelector('.swagger-ui .opblock', { timeout: 20000 });
  const ops = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent.replace(/\u200b/g, '')));
  check('docs: Swagger lists the segment route', ops.some((p) => p.includes('/api/v1/segment/{model_id}')), JSON.stringify(ops));
  check('docs: and the health routes', ops.includes('/readyz') && ops.some((p) => p.includes('/v2/models/{model_id}/ready')));
  check('docs: every request stays on this server (no CDN)', foreign.length === 0, foreign.join(' '));
  await page.screenshot({ path: path.join(artifacts, 'docs-desktop.png') });
  check('docs: no page errors', errors.length === 0, errors.join('\n'));
  const spec = await (await fetch(base + '/api-docs/openapi.json')).json();
  check('docs: spec is OpenAPI 3 with the models route', spec.openapi.startsWith('3.') && !!spec.paths['/api/v1/models']);
  const metrics = await (await fetch(base + '/metrics')).text();
  check('docs: /metrics speaks Prometheus text', metrics.includes('# TYPE candlelit_requests_total counter'));
  await page.close();
}
