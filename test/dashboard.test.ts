import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/keys/api-keys.ts';
import { evaluateModel } from '../src/pipeline/evaluate.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { accessibilityViolations, artifactPath, launchChromium } from './helpers/browser.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, silentLogger } from './helpers/pipeline.ts';

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against the real
 * API, on a model with three versions: v1, v2 (published, realized accuracy measured) and a
 * shocked v3 the drift gate held. Each chart's marks are counted against the JSON API's figures.
 */

const setup = useTestSetup('dashboard', { market: { keys: 300, days: 40, seed: 5 }, pipeline: true });
const MODEL = 'prices';
const NAIVE = 'prices-naive';
let api: TestApi;
let browser: Browser;
const keys = { admin: '', read: '' };

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
type Json = Record<string, any>;
const v1 = async (path: string): Promise<Json> => {
  const res = await api.json(path, { headers: { authorization: `Bearer ${keys.admin}` } });
  expect(res.status, path).toBe(200);
  return res.body;
};

beforeAll(async () => {
  const db = setup.db();
  await applySpec(db, demoSpec({ name: MODEL, description: 'Next-day close (ridge)' }));
  await applySpec(
    db,
    demoSpec({
      name: NAIVE,
      estimator: 'naive',
      params: { feature: 'close' },
      source: { ...demoSpec().source, features: ['close'] },
    }),
  );
  const pipeline = setup.pipeline();
  for (const model of [MODEL, NAIVE]) expect((await pipeline.refresh(model)).state).toBe('succeeded');
  await setup.advance(1);
  for (const model of [MODEL, NAIVE]) expect((await pipeline.refresh(model)).state).toBe('succeeded');
  await setup.advance(1, { shockPct: 30 });
  expect((await pipeline.refresh(MODEL)).state).toBe('succeeded');
  for (const model of [MODEL, NAIVE]) await evaluateModel(db, model, silentLogger);
  keys.admin = await createApiKey(db, 'ops', 'admin');
  keys.read = await createApiKey(db, 'analyst', 'read');
  api = await startTestApi(setup.database.url, setup.prefix.current, { auth: true });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
});

/** A browser context of its own (cookies), with the pages' CSP bypassed only so axe can be injected. */
async function signedIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    baseURL: api.url,
    bypassCSP: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  await page.goto('/');
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('#key', key);
  await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.click('button[type=submit]')]);
  return { context, page };
}

/** Marks Vega drew in a chart: `kind` is the figure's data-chart, `mark` a Vega mark class. */
const marks = (page: Page, kind: string, mark: string, element = 'path') =>
  page.locator(`figure[data-chart="${kind}"] g.${mark}.role-mark ${element}`).count();

async function check(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: await artifactPath('dashboard', `${name}.png`), fullPage: true });
  expect(await accessibilityViolations(page), `axe on ${name}`).toEqual([]);
}

describe('the dashboard in a browser', () => {
  it('signs in, walks models → model → version → diff with charts drawn from the data, and approves the held version', async () => {
    const { context, page } = await signedIn(keys.admin);

    // models: one row each, with its newest version's state and verdict, and a sparkline of realized MAE
    expect(await page.locator('h1').textContent()).toBe('Models');
    const rows = page.locator('main table tbody tr');
    expect(await rows.count()).toBe(2);
    const pricesRow = rows.filter({ hasText: MODEL }).first();
    expect(await pricesRow.textContent()).toMatch(/v3\s*held\s*fail/);
    const versions = (await v1(`/v1/models/${MODEL}/versions`)).items as Json[];
    const realized = versions.filter((v) => v.realized?.mae != null);
    expect(realized.length).toBe(2);
    expect(
      await pricesRow.locator('figure[data-chart="sparkline"] g.mark-symbol.role-mark path').count(),
    ).toBe(realized.length);
    expect(await page.getByText('signed in as').textContent()).toContain('ops');
    await check(page, 'models');

    // a model: the versions table, the accuracy chart's points, the runs
    await page.click(`a[href="/models/${MODEL}"] >> nth=0`);
    expect(await page.locator('h1').textContent()).toBe(MODEL);
    const table = page.locator('section[aria-labelledby="versions"] tbody tr');
    expect(await table.count()).toBe(versions.length);
    expect(await table.nth(0).locator('.badge').first().textContent()).toBe('held');
    const expectedPoints = versions.reduce(
      (sum, v) =>
        sum +
        [v.metrics?.holdout.mae, v.metrics?.naive.mae, v.realized?.mae, v.realized?.naiveMae].filter(
          (mae) => typeof mae === 'number',
        ).length,
      0,
    );
    expect(expectedPoints).toBeGreaterThanOrEqual(8);
    // accuracy as served (v2 is live today and measured): a level line across the versions
    const served = await v1(`/v1/models/${MODEL}/accuracy`);
    expect(served.servedMae).toBe(versions.find((v) => v.state === 'published')?.realized?.mae);
    expect(await marks(page, 'accuracy', 'mark-symbol')).toBe(expectedPoints + versions.length);
    // one line per series: holdout and realized, each beside naive's, and served
    expect(await marks(page, 'accuracy', 'mark-line')).toBe(5);
    // the runs, in a frame of their own that reloads itself while one is active
    const runs = (await v1(`/v1/models/${MODEL}/runs`)).items as Json[];
    expect(await page.frameLocator('iframe.runs').locator('tbody tr').count()).toBe(runs.length);
    // the publication history: a bar per interval, as the API lists them
    const history = (await v1(`/v1/models/${MODEL}/history`)).items as Json[];
    expect(history.map((interval) => interval.version)).toEqual([2, 1]);
    expect(await marks(page, 'history', 'mark-rect')).toBe(history.length);
    expect(await page.getByRole('button', { name: 'Approve v3' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Roll back to v1' }).count()).toBe(1);
    await check(page, 'model');

    // a version: its stored report drawn
    await page.click(`a[href="/models/${MODEL}/versions/3"] >> nth=0`);
    const report = await v1(`/v1/models/${MODEL}/versions/3/drift`);
    expect(await page.locator('h1').textContent()).toContain(`${MODEL} v3`);
    const bins = report.psiCounts.a.length + report.psiCounts.b.length;
    expect(bins).toBe(20);
    expect(await marks(page, 'histogram', 'mark-rect')).toBe(bins);
    // each bar's share is in the chart's text alternative, as the JSON's counts make it
    const histogramLabel =
      (await page.locator('figure[data-chart="histogram"] svg').getAttribute('aria-label')) ?? '';
    const lastShare = ((report.psiCounts.b.at(-1) / report.b.count) * 100).toFixed(1);
    expect(histogramLabel).toContain(`B: v3 ≥ `);
    expect(histogramLabel).toContain(`${lastShare}%`);
    // two CDFs, and the KS gap marked where the report says it is
    expect(await marks(page, 'cdf', 'mark-line')).toBe(2);
    expect(await marks(page, 'cdf', 'mark-rule', 'line')).toBe(1);
    expect(await page.locator('figure[data-chart="cdf"] figcaption').textContent()).toContain(
      String(Number(report.ksStatistic.toPrecision(4))),
    );
    // the checks, with pass and fail as the report says
    const checks = page.locator('section[aria-labelledby="verdict"] tbody tr');
    expect(await checks.count()).toBe(report.verdict.checks.length);
    for (const [i, c] of (report.verdict.checks as Json[]).entries()) {
      expect(await checks.nth(i).locator('.badge').textContent()).toBe(c.passed ? 'pass' : 'fail');
    }
    const movers = page.locator('section[aria-labelledby="movers"] table').first().locator('tbody tr');
    expect(await movers.count()).toBe(report.topMovers.up.length);
    expect(await movers.first().locator('td').first().textContent()).toBe(report.topMovers.up[0].key);
    // downloads go through the session's read-only /data routes
    const csv = await context.request.get(
      (await page.getByRole('link', { name: 'CSV', exact: true }).getAttribute('href')) ?? '',
    );
    expect(csv.status()).toBe(200);
    expect((await csv.text()).split('\n').length - 2).toBe(report.b.count);
    await check(page, 'version');

    // a diff of any two versions, with pickers
    await page.goto(`/models/${MODEL}/diff`);
    expect(new URL(page.url()).search).toBe('?from=2&to=3');
    await page.selectOption('select[name="from"]', '1');
    await Promise.all([page.waitForURL(/from=1&to=3/), page.click('button:has-text("Compare")')]);
    const diff = await v1(`/v1/models/${MODEL}/diff?from=1&to=3`);
    expect(await marks(page, 'histogram', 'mark-rect')).toBe(
      diff.psiCounts.a.length + diff.psiCounts.b.length,
    );
    expect(await page.locator('section[aria-labelledby="figures"] tbody tr').first().textContent()).toContain(
      String(Number(diff.psi.toPrecision(4))),
    );
    const diffJson = await context.request.get(
      (await page.getByRole('link', { name: 'This page as JSON' }).getAttribute('href')) ?? '',
    );
    expect(((await diffJson.json()) as Json).psi).toBe(diff.psi);
    await check(page, 'diff');

    // approve v3 with its button: its badge changes and lookups answer from it
    const snapshot = await api.request(`/v1/models/${MODEL}/versions/latest/snapshot`, {
      headers: { authorization: `Bearer ${keys.admin}` },
    });
    const ticker = (await snapshot.text()).split('\n')[1]?.split(',')[0] ?? '';
    const lookup = () => v1(`/v1/models/${MODEL}/estimates/${ticker}`);
    expect((await lookup()).version).toBe(2);
    await page.goto(`/models/${MODEL}`);
    // Enter in the reason field decides nothing: a decision is a click on the button that names it
    await page.fill('input[aria-label="reason for the decision on v3"]', 'pressing Enter');
    await page.press('input[aria-label="reason for the decision on v3"]', 'Enter');
    await page.waitForTimeout(300);
    expect(new URL(page.url()).search).toBe('');
    expect((await v1(`/v1/models/${MODEL}/versions/3`)).state).toBe('held');
    await page.fill('input[aria-label="reason for the decision on v3"]', 'the shock is real');
    await Promise.all([
      page.waitForURL(/done=publish/),
      page.getByRole('button', { name: 'Approve v3' }).click(),
    ]);
    expect(await page.getByRole('status').textContent()).toContain('Version 3 was published');
    expect(await table.nth(0).locator('.badge').first().textContent()).toBe('published');
    expect((await lookup()).version).toBe(3);
    expect(await marks(page, 'history', 'mark-rect')).toBe(3);
    expect((await v1(`/v1/models/${MODEL}/versions/3`)).lineage.published).toMatchObject({
      actor: 'api:ops',
      reason: 'the shock is real',
    });
    await check(page, 'model-approved');

    // logging out ends the session
    await Promise.all([page.waitForURL(/\/login/), page.getByRole('button', { name: 'Log out' }).click()]);
    await page.goto(`/models/${MODEL}`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await context.close();
  }, 120_000);

  it('shows a read key everything but the buttons, and refuses its admin requests', async () => {
    const { context, page } = await signedIn(keys.read);
    await page.goto(`/models/${MODEL}`);
    expect(await page.getByRole('button', { name: /Approve|Reject|Roll back/ }).count()).toBe(0);
    expect(await page.locator('th:has-text("actions")').count()).toBe(0);
    // the form an admin would send, sent by the read key's session: refused, and nothing changes
    const before = (await v1(`/v1/models/${MODEL}`)).publishedVersion;
    const refused = await context.request.post(`/models/${MODEL}/versions/1/publish`, {
      form: { reason: 'sneaky' },
      maxRedirects: 0,
    });
    expect(refused.status()).toBe(403);
    expect(await refused.text()).toContain('this needs an API key with the &quot;admin&quot; scope');
    expect((await v1(`/v1/models/${MODEL}`)).publishedVersion).toBe(before);
    // the JSON links work for the session, read-only
    expect((await context.request.get(`/data/v1/models/${MODEL}/versions`)).status()).toBe(200);
    expect(
      (
        await context.request.post(`/data/v1/models/${MODEL}/versions/1/publish`, {
          data: {},
          maxRedirects: 0,
        })
      ).status(),
    ).toBe(404);
    await context.close();
  }, 60_000);

  it('draws every chart with JavaScript off', async () => {
    const context = await browser.newContext({ baseURL: api.url, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto('/login');
    await page.fill('#key', keys.read);
    await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.click('button[type=submit]')]);
    await page.goto(`/models/${MODEL}/versions/3`);
    expect(await marks(page, 'histogram', 'mark-rect')).toBe(20);
    expect(await marks(page, 'cdf', 'mark-line')).toBe(2);
    await context.close();
  }, 60_000);
});
