import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { RealizedAccuracy } from '../src/db/json-columns.ts';
import { findVersion } from '../src/db/versions.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec } from './helpers/pipeline.ts';

const { db, runtime, advance } = useTestSetup('realized', {
  market: { keys: 1000, days: 60, seed: 3 },
  pipeline: true,
});

const realizedOf = async (model: string, number: number) =>
  (await findVersion(db(), model, number))?.realized;

/** The figures computed in Node from the rows themselves: the version's estimates and the actuals. */
async function byHand(model: string, number: number) {
  const { rows } = await sql<{ value: number; lower: number; upper: number; y: number; naive: number }>`
    SELECT e.value, e.lower, e.upper, p.close_next AS y, p.close AS naive
    FROM estimates e
    JOIN versions v ON v.id = e.version_id
    JOIN demo.daily_prices p ON p.ticker = e.key AND p.day = e.as_of::date
    WHERE v.model = ${model} AND v.number = ${number} AND p.close_next IS NOT NULL`.execute(db());
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const errors = rows.map((r) => r.y - r.value);
  return {
    rows: rows.length,
    mae: mean(errors.map(Math.abs)),
    rmse: Math.sqrt(mean(errors.map((e) => e * e))),
    bias: mean(errors),
    intervalCoverage: mean(rows.map((r) => (r.y >= r.lower && r.y <= r.upper ? 1 : 0))),
    naiveMae: mean(rows.map((r) => Math.abs(r.y - r.naive))),
  };
}

describe('realized accuracy', () => {
  it('is measured after each refresh, once the actuals arrive, and equals a computation by hand', async () => {
    await applySpec(db(), demoSpec({ name: 'acc', trainWindowDays: 40, holdoutDays: 5 }));
    expect((await runCli('run', 'acc', '--wait')).code).toBe(0);
    // the worker queues an evaluate job after the refresh; the newest day's actuals are not in yet
    await expect.poll(() => realizedOf('acc', 1), { timeout: 20_000 }).toMatchObject({ rows: 0, keys: 1000 });

    await advance(1);
    const evaluated = await runCli('evaluate', 'acc');
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toMatch(/^VERSION\s+STATE\s+MEASURED\s+MAE/);
    expect(evaluated.stdout).toMatch(/v1\s+published\s+1000\/1000/);

    const realized = await realizedOf('acc', 1);
    const expected = await byHand('acc', 1);
    expect(expected.rows).toBe(1000);
    expect(realized).toMatchObject({ rows: 1000, keys: 1000, intervalRows: 1000, naiveFeature: 'close' });
    for (const name of ['mae', 'rmse', 'bias', 'intervalCoverage', 'naiveMae'] as const) {
      expect(Math.abs((realized?.[name] ?? Number.NaN) - expected[name])).toBeLessThanOrEqual(
        1e-9 * Math.abs(expected[name]) + 1e-12,
      );
    }
    expect(realized?.maeRatioToNaive).toBeCloseTo(expected.mae / expected.naiveMae, 12);
    expect(realized?.asOf.from).toBe(realized?.asOf.to);

    // shown by `almanac show` and in the version detail
    const shown = JSON.parse((await runCli('show', 'acc', '1')).stdout) as { realized: RealizedAccuracy };
    expect(shown.realized.mae).toBe(realized?.mae);
  });

  it("shows that ridge beats naive on the demo market's actuals", async () => {
    const realized = await realizedOf('acc', 1);
    expect(realized?.mae).toBeLessThan(realized?.naiveMae ?? 0);
  });

  it('leaves measured versions alone and measures new ones', async () => {
    expect((await runCli('run', 'acc', '--wait')).code).toBe(0);
    await expect.poll(() => realizedOf('acc', 2), { timeout: 20_000 }).toMatchObject({ rows: 0 });
    const before = await realizedOf('acc', 1);
    const again = JSON.parse((await runCli('evaluate', 'acc', '--json')).stdout) as {
      evaluated: { version: number }[];
      complete: number[];
    };
    expect(again.complete).toEqual([1]);
    expect(again.evaluated.map((e) => e.version)).toEqual([2]);
    expect((await realizedOf('acc', 1))?.evaluatedAt).toBe(before?.evaluatedAt);
  });

  it('measures an imported version too, when its rows carry as_of and the model names its source', async () => {
    await applySpec(db(), { name: 'ext-acc', estimator: 'external', source: demoSpec().source });
    // a spreadsheet's forecast: tomorrow's close is today's (what naive says), for the newest day with actuals
    const { rows } = await sql<{ ticker: string; close: number; day: string }>`
      SELECT ticker, close, day::text AS day FROM demo.daily_prices
      WHERE day = (SELECT max(day) FROM demo.daily_prices WHERE close_next IS NOT NULL)`.execute(db());
    const csv = ['key,value,as_of', ...rows.map((r) => `${r.ticker},${r.close},${r.day}`)].join('\n');
    await importCsv(runtime(), 'ext-acc', readableOf(`${csv}\n`), 'test');
    const evaluated = await runCli('evaluate', 'ext-acc', '--json');
    expect(evaluated.code).toBe(0);
    const realized = await realizedOf('ext-acc', 1);
    expect(realized).toMatchObject({ rows: rows.length, keys: rows.length, naiveFeature: 'close' });
    expect(realized?.mae).toBeGreaterThan(0);
    expect(realized?.mae).toBeCloseTo(realized?.naiveMae ?? Number.NaN, 9);
  });

  it('says so for a model without a source, and refuses an unknown model', async () => {
    await applySpec(db(), { name: 'outside', estimator: 'external' });
    await importCsv(runtime(), 'outside', readableOf('key,value\nA,1\n'), 'test');
    expect(await runCli('evaluate', 'outside')).toEqual({
      code: 0,
      stdout:
        'no version of outside has been measured yet\nv1 not measured: no source table to take actuals from\n',
      stderr: expect.any(String),
    });
    const missing = await runCli('evaluate', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('model "nope" does not exist');
    const bad = await runCli('evaluate', 'Bad Name');
    expect(bad.code).toBe(2);
  });
});
