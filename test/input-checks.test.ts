import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedMarket } from '../seeds/load-market.ts';
import { featureBins } from '../src/db/input-stats.ts';
import type { InputChecks } from '../src/db/json-columns.ts';
import { findRun } from '../src/db/runs.ts';
import { resolveSource } from '../src/db/source.ts';
import { findVersion } from '../src/db/versions.ts';
import { psiOf } from '../src/drift/psi.ts';
import { requestRefresh } from '../src/runs/request.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, lenientDrift, waitForRun } from './helpers/pipeline.ts';

const market = { keys: 200, days: 30, seed: 7 };
const setup = useTestSetup('input_checks', { market, pipeline: true });
const { db, pool, advance, pipeline } = setup;

/** The newest day of the seeded market, and the day an advance adds. */
const SEEDED_DAY = '2026-01-30';
const NEXT_DAY = '2026-01-31';

/** A webhook receiver: every alert it was sent. */
let hook: Server;
let hookUrl = '';
const received: Record<string, unknown>[] = [];
let api: TestApi;

beforeAll(async () => {
  hook = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/almanac`;
  await sql`CREATE SCHEMA shop`.execute(db());
  api = await startTestApi(setup.database.url, setup.prefix.current);
});
afterAll(async () => {
  await api?.close();
  await new Promise((resolve) => hook.close(resolve));
});

/** The market as seeded, a model over it with `inputs`, and its first version published. */
async function publishedModel(name: string, inputs: Record<string, number>): Promise<void> {
  await seedMarket(pool(), { ...market, start: '2026-01-01' });
  await applySpec(db(), demoSpec({ name, inputs, drift: lenientDrift, alerts: { webhookUrl: hookUrl } }));
  expect(await pipeline().refresh(name)).toMatchObject({ state: 'succeeded', version: 1 });
}

async function inputsOf(model: string, version: number): Promise<InputChecks> {
  const found = await findVersion(db(), model, version);
  if (found?.lineage.inputs === undefined) throw new Error(`v${version} of ${model} has no input checks`);
  return found.lineage.inputs;
}

const failedChecks = (inputs: InputChecks) => inputs.checks.filter((check) => !check.passed);

const tight = { maxRowDrop: 0.1, maxMissingKeys: 0.05, maxNullShare: 0.1, maxFeaturePsi: 0.25 };

describe('input checks before training', () => {
  it("pass a model's first run without a baseline, and record the newest slice", async () => {
    await publishedModel('first', tight);
    const run = await findRun(db(), (await findVersion(db(), 'first', 1))?.lineage.runId ?? '');
    expect(run).toMatchObject({ state: 'succeeded', phase: 'done', forceInputs: false });
    const inputs = await inputsOf('first', 1);
    expect(inputs).toMatchObject({
      time: SEEDED_DAY,
      baseline: null,
      rows: 200,
      rowChange: null,
      missingKeys: null,
      missing: { count: 0, keys: [] },
      nullShare: { close: 0, ma_5: 0, ma_20: 0, volume_z: 0, close_next: 0 },
      psi: { close: null, ma_5: null, ma_20: null, volume_z: null },
      passed: true,
      forced: false,
    });
    expect(inputs.checks.map((check) => check.name)).toEqual([
      'rowDrop',
      'missingKeys',
      'nullShare.close',
      'nullShare.ma_5',
      'nullShare.ma_20',
      'nullShare.volume_z',
      'nullShare.close_next',
      'psi.close',
      'psi.ma_5',
      'psi.ma_20',
      'psi.volume_z',
    ]);
    expect(inputs.checks[0]).toEqual({ name: 'rowDrop', threshold: 0.1, observed: null, passed: true });
    // the run went through a phase of its own before training
    const phases = Object.keys((await findVersion(db(), 'first', 1))?.lineage.phasesMs ?? {});
    expect(phases).toEqual(expect.arrayContaining(['checking', 'training']));
  });

  it('pass a good day against the slice the published version scored', async () => {
    await publishedModel('good', tight);
    await advance(1);
    expect(await pipeline().refresh('good')).toMatchObject({ state: 'succeeded', version: 2 });
    const inputs = await inputsOf('good', 2);
    expect(inputs).toMatchObject({
      time: NEXT_DAY,
      baseline: { version: 1, time: SEEDED_DAY, rows: 200 },
      rows: 200,
      rowChange: 0,
      missingKeys: 0,
      passed: true,
    });
    for (const psi of Object.values(inputs.psi)) expect(psi).toBeLessThan(0.25);
    expect(failedChecks(inputs)).toEqual([]);
  });

  it('fail a run whose newest day lost keys, in phase checking, at once, and alert', async () => {
    await publishedModel('drops', tight);
    await advance(1, { dropKeysPct: 20 });
    const failed = await pipeline().refresh('drops');
    const error =
      'input checks failed: rowDrop 0.2 > maxRowDrop 0.1; missingKeys 0.2 > maxMissingKeys 0.05 ' +
      '(to score anyway: `almanac run drops --force-inputs`)';
    expect(failed).toMatchObject({ state: 'failed', phase: 'checking', version: 2, attempts: 1, error });
    // not retried: BullMQ was told no retry can fix it, and failed the job for good at once
    const job = await pipeline().queue.getJob(failed.jobId ?? '');
    expect(job?.opts.attempts).toBeGreaterThan(1);
    await expect.poll(() => job?.getState(), { timeout: 10_000 }).toBe('failed');
    expect((await pipeline().queue.getJob(failed.jobId ?? ''))?.failedReason).toBe(error);
    expect((await findRun(db(), failed.id))?.attempts).toBe(1);

    const version = await findVersion(db(), 'drops', 2);
    expect(version).toMatchObject({ state: 'failed', lineage: { error } });
    const inputs = await inputsOf('drops', 2);
    expect(inputs).toMatchObject({
      rows: 160,
      rowChange: -0.2,
      missingKeys: 0.2,
      passed: false,
      forced: false,
    });
    expect(inputs.missing.count).toBe(40);
    expect(failedChecks(inputs)).toEqual([
      { name: 'rowDrop', threshold: 0.1, observed: 0.2, passed: false },
      { name: 'missingKeys', threshold: 0.05, observed: 0.2, passed: false },
    ]);
    expect(await findVersion(db(), 'drops', 1)).toMatchObject({ state: 'published' });

    await expect
      .poll(() => received.filter((body) => body.model === 'drops'), { timeout: 10_000 })
      .toHaveLength(1);
    expect(received.find((body) => body.model === 'drops')).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      event: 'inputs.failed',
      model: 'drops',
      version: 2,
      runId: failed.id,
      error,
      checks: inputs.checks,
      lineage: '/v1/models/drops/versions/2',
    });
    // the dashboard shows the error in the runs frame, and the checks on the version page
    const frame = await (await api.request('/models/drops/runs')).text();
    expect(frame).toContain('input checks failed: rowDrop 0.2 &gt; maxRowDrop 0.1');
    const page = await (await api.request('/models/drops/versions/2')).text();
    expect(page).toContain('<h2 id="inputs">Input checks: <span class="badge fail">fail</span></h2>');
    expect(page).toMatch(
      /<td>missingKeys<\/td><td class="num">0\.2<\/td><td class="num">0\.05<\/td><td><span class="badge fail">/,
    );
    expect(page).toContain('40 keys of the published slice are missing from the newest one');
  });

  it('score a forced run as usual, and record that it was forced and which keys were missing', async () => {
    await publishedModel('forced', tight);
    await advance(1, { dropKeysPct: 20 });
    const { run } = await requestRefresh(db(), pipeline().enqueue, {
      model: 'forced',
      trigger: 'test',
      forceInputs: true,
    });
    expect(run.forceInputs).toBe(true);
    expect(await waitForRun(db(), run.id)).toMatchObject({
      state: 'succeeded',
      version: 2,
      forceInputs: true,
    });
    const version = await findVersion(db(), 'forced', 2);
    expect(version).toMatchObject({ state: 'published', rowCount: 200 });
    const inputs = await inputsOf('forced', 2);
    expect(inputs).toMatchObject({ passed: false, forced: true, missingKeys: 0.2 });
    // the keys the newest day lacks, in key order: scored from their older rows
    const { rows } = await sql<{ key: string }>`
      SELECT key FROM latest_estimates WHERE model = 'forced' AND as_of < ${NEXT_DAY}::date ORDER BY key`.execute(
      db(),
    );
    expect(rows).toHaveLength(40);
    expect(inputs.missing).toEqual({ count: 40, keys: rows.map((row) => row.key) });
    const page = await (await api.request('/models/forced/versions/2')).text();
    expect(page).toContain('(forced past them)');
  });

  it("fail on null features in the newest slice (null or NaN), each feature's share named", async () => {
    await publishedModel('nulls', tight);
    await advance(1, { nullSharePct: 30 });
    const failed = await pipeline().refresh('nulls');
    expect(failed).toMatchObject({ state: 'failed', phase: 'checking', attempts: 1 });
    for (const feature of ['close', 'ma_5', 'ma_20', 'volume_z']) {
      expect(failed.error).toContain(`nullShare.${feature} 0.3 > maxNullShare 0.1`);
    }
    const inputs = await inputsOf('nulls', 2);
    expect(inputs.nullShare).toMatchObject({ close: 0.3, ma_5: 0.3, ma_20: 0.3, volume_z: 0.3 });
    // keys and rows are all there
    expect(inputs).toMatchObject({ rows: 200, missingKeys: 0, rowChange: 0 });

    // NaN counts as null, and a feature without a single finite value has no PSI
    await sql`UPDATE demo.daily_prices SET volume_z = 'NaN' WHERE day = ${NEXT_DAY}::date`.execute(db());
    const again = await pipeline().refresh('nulls');
    expect(again.error).toContain('nullShare.volume_z 1 > maxNullShare 0.1');
    expect((await inputsOf('nulls', 3)).psi.volume_z).toBeNull();
  });

  it('fail on null targets over the training window, which the newest slice cannot show', async () => {
    await publishedModel('targets', { maxNullShare: 0.01 });
    // the keys left out of the new day have no actual on the day before it
    await advance(1, { dropKeysPct: 30 });
    const { rows } = await sql<{ share: number }>`
      SELECT avg((close_next IS NULL)::int)::float8 AS share FROM demo.daily_prices
      WHERE day > ${SEEDED_DAY}::date - 20 AND day <= ${SEEDED_DAY}::date`.execute(db());
    const expected = rows[0]?.share ?? Number.NaN;
    expect(expected).toBeCloseTo((0.3 * 200) / (20 * 200), 12);
    const failed = await pipeline().refresh('targets');
    expect(failed).toMatchObject({ state: 'failed', phase: 'checking' });
    const inputs = await inputsOf('targets', 2);
    expect(inputs.nullShare.close_next).toBeCloseTo(expected, 12);
    expect(failedChecks(inputs).map((check) => check.name)).toEqual(['nullShare.close_next']);
    expect(failed.error).toContain('nullShare.close_next 0.015 > maxNullShare 0.01');
    // the checks without a threshold are reported, never failing
    expect(inputs.checks.find((check) => check.name === 'missingKeys')).toEqual({
      name: 'missingKeys',
      threshold: null,
      observed: 0.3,
      passed: true,
    });
  });

  it('fail on a feature whose distribution shifted (PSI against the published slice)', async () => {
    await publishedModel('shift', { maxFeaturePsi: 0.25 });
    await advance(1, { shockPct: 30 });
    const failed = await pipeline().refresh('shift');
    expect(failed).toMatchObject({ state: 'failed', phase: 'checking' });
    const inputs = await inputsOf('shift', 2);
    expect(inputs.psi.close).toBeGreaterThan(0.25);
    expect(failed.error).toMatch(/psi\.close [\d.]+ > maxFeaturePsi 0\.25/);
    // volume_z does not move with prices
    expect(inputs.psi.volume_z).toBeLessThan(0.25);
  });
});

describe('feature PSI', () => {
  /** A table of two days, `a` on the first and `b` on the second, of one feature `x`. */
  async function twoDays(table: string, a: [string, number][], b: [string, number][]) {
    await sql`CREATE TABLE ${sql.table(`shop.${table}`)} (k text, day date, x float8, y float8, PRIMARY KEY (k, day))`.execute(
      db(),
    );
    const insert = async (day: string, rows: [string, number][], y: number | null) => {
      for (let i = 0; i < rows.length; i += 1000) {
        const values = rows
          .slice(i, i + 1000)
          .map(([key, value]) => sql`(${key}, ${day}::date, ${value}, ${y})`);
        await sql`INSERT INTO ${sql.table(`shop.${table}`)} VALUES ${sql.join(values)}`.execute(db());
      }
    };
    await insert('2026-01-01', a, 1);
    await insert('2026-01-02', b, null);
    return resolveSource(db(), {
      table: `shop.${table}`,
      key: 'k',
      time: 'day',
      target: 'y',
      features: ['x'],
    });
  }

  it('is the drift report PSI on the independent reference cases (numpy)', async () => {
    const reference = JSON.parse(
      readFileSync(new URL('./fixtures/drift-reference.json', import.meta.url), 'utf8'),
    ) as {
      cases: {
        a: [string, number][];
        b: [string, number][];
        expected: { psi: number; psiEdges: number[] };
      }[];
    };
    for (const [i, entry] of reference.cases.entries()) {
      const source = await twoDays(`ref_${i}`, entry.a, entry.b);
      const bins = (await featureBins(db(), source, '2026-01-01', '2026-01-02')).x;
      if (bins === undefined) throw new Error('no bins for x');
      expect(bins.edges).toHaveLength(9);
      bins.edges.forEach((edge, j) => {
        expect(edge).toBeCloseTo(entry.expected.psiEdges[j] ?? Number.NaN, 9);
      });
      const psi = psiOf(bins.counts, bins.countA, bins.countB) ?? Number.NaN;
      expect(Math.abs(psi - entry.expected.psi)).toBeLessThanOrEqual(1e-9 * Math.abs(entry.expected.psi));
    }
  });

  it('is computed by the refresh as by hand on a small slice, leaving out nulls and NaN', async () => {
    // published slice 1…10: its deciles are 1.9, 2.8, …, 9.1, one value in each bin
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    await sql`CREATE TABLE shop.tiny (k text, day date, x float8, y float8, PRIMARY KEY (k, day))`.execute(
      db(),
    );
    await sql`INSERT INTO shop.tiny VALUES ${sql.join(keys.map((k, i) => sql`(${k}, '2026-01-01', ${i + 1}, ${i + 1})`))}`.execute(
      db(),
    );
    await sql`INSERT INTO shop.tiny VALUES ${sql.join(keys.map((k, i) => sql`(${k}, '2026-01-02', ${i + 1}, NULL)`))}`.execute(
      db(),
    );
    await applySpec(db(), {
      name: 'tiny',
      estimator: 'naive',
      source: { table: 'shop.tiny', key: 'k', time: 'day', target: 'y', features: ['x'] },
      trainWindowDays: 10,
      holdoutDays: 0,
      drift: { ...lenientDrift, maxRemovedShare: 1 },
    });
    expect(await pipeline().refresh('tiny')).toMatchObject({ state: 'succeeded', version: 1 });
    // the next day: 1, 1, 2, 2, …, 5, 5 (two in each of bins 0…4), and two keys without a value
    const next = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
    await sql`INSERT INTO shop.tiny VALUES ${sql.join(keys.map((k, i) => sql`(${k}, '2026-01-03', ${next[i] ?? 0}, NULL)`))},
              ('k10', '2026-01-03', NULL, NULL), ('k11', '2026-01-03', 'NaN', NULL)`.execute(db());
    await sql`UPDATE shop.tiny SET y = x WHERE day = '2026-01-02'`.execute(db());
    expect(await pipeline().refresh('tiny')).toMatchObject({ state: 'succeeded', version: 2 });
    const inputs = await inputsOf('tiny', 2);

    // by the formula: five bins at 0.2 against 0.1, five empty ones (epsilon 1e-4) against 0.1
    const byHand = 5 * (0.2 - 0.1) * Math.log(0.2 / 0.1) + 5 * (1e-4 - 0.1) * Math.log(1e-4 / 0.1);
    expect(byHand).toBeCloseTo(0.5 * Math.LN2 + 0.4995 * Math.log(1000), 12);
    expect(inputs.psi.x).toBeCloseTo(byHand, 12);
    expect(inputs).toMatchObject({ rows: 12, rowChange: 0.2, missingKeys: 0 });
    expect(inputs.nullShare.x).toBeCloseTo(2 / 12, 12);
  });
});

describe('forcing a run', () => {
  it('takes "forceInputs" in the API body, validated, and keeps it on the run', async () => {
    await publishedModel('api-forced', tight);
    await advance(1, { dropKeysPct: 20 });
    const bad = await api.post('/v1/models/api-forced/runs', { forceInputs: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'body.forceInputs', message: 'must be true or false' }]);
    const unknown = await api.post('/v1/models/api-forced/runs', { force: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ path: 'body.force', message: 'unknown field' }]);

    // an empty body is still a plain run, which fails its checks
    const plain = await api.json('/v1/models/api-forced/runs', { method: 'POST' });
    expect(plain.status).toBe(202);
    expect(await waitForRun(db(), plain.body.runId)).toMatchObject({ state: 'failed', forceInputs: false });

    const queued = await api.post('/v1/models/api-forced/runs', { forceInputs: true });
    expect(queued.status).toBe(202);
    const done = await waitForRun(db(), queued.body.runId);
    expect(done).toMatchObject({ state: 'succeeded', forceInputs: true });
    expect((await api.json(`/v1/runs/${queued.body.runId}`)).body).toMatchObject({
      state: 'succeeded',
      phase: 'done',
      forceInputs: true,
    });
    const detail = (await api.json('/v1/models/api-forced/versions/3')).body;
    expect(detail.lineage.inputs).toMatchObject({ forced: true, passed: false, missing: { count: 40 } });
  });

  it('takes --force-inputs on the CLI', async () => {
    await publishedModel('cli-forced', tight);
    await advance(1, { dropKeysPct: 20 });
    const refused = await runCli('run', 'cli-forced', '--wait');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('failed: input checks failed: rowDrop 0.2 > maxRowDrop 0.1');
    const forced = await runCli('run', 'cli-forced', '--force-inputs', '--wait');
    expect(forced).toMatchObject({ code: 0 });
    expect(forced.stdout).toContain('published version 3 of cli-forced');
    expect(await inputsOf('cli-forced', 3)).toMatchObject({ forced: true, passed: false });
  });
});
