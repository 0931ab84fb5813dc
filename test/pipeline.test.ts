import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUANTILES, versionSummary } from '../src/db/drift-stats.ts';
import { partitionName } from '../src/db/partitions.ts';
import { estimatedKeys } from '../src/db/scoring.ts';
import { resolveSource } from '../src/db/source.ts';
import { findVersion, listVersions } from '../src/db/versions.ts';
import { requestRefresh } from '../src/runs/request.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, lenientDrift, waitForRun } from './helpers/pipeline.ts';

const { db, pipeline, advance } = useTestSetup('pipeline', {
  market: { keys: 300, days: 40, seed: 3 },
  pipeline: true,
  each: true,
});
const refresh = () => pipeline().refresh('prices');

beforeAll(async () => {
  await applySpec(db(), demoSpec());
});

describe('refresh', () => {
  it('turns the source into a published, versioned estimate table', async () => {
    const run = await refresh();
    expect(run).toMatchObject({ state: 'succeeded', phase: 'done', progress: 1, version: 1, error: null });
    const version = await findVersion(db(), 'prices', 1);
    expect(version).toMatchObject({ state: 'published', rowCount: 300 });
    expect(version?.checksum).toMatch(/^[0-9a-f]{32}$/);
    expect(version?.lineage).toMatchObject({
      estimator: 'ridge',
      trigger: 'test',
      training: {
        window: { anchor: '2026-02-08', trainWindowDays: 20, holdoutDays: 3 },
        rows: { skipped: 0 },
      },
      scoring: { rows: 300, skippedRows: 0, skippedKeys: 0 },
      artifact: { estimator: 'ridge', features: ['close', 'ma_5', 'ma_20', 'volume_z'] },
    });
    expect(version?.metrics).toMatchObject({
      holdout: { rows: 900, inSample: false },
      naive: { feature: 'close' },
    });
    // the drift report, which starts once the rows are attached, shows the metrics measured before
    expect(version?.drift?.metrics.candidate).toEqual(version?.metrics);
    // and describes the rows as a report read from them afresh does, though it took their
    // summary from the checksum's read, before they were attached
    const afresh = await versionSummary(db(), version?.id ?? '');
    expect(afresh.count).toBe(300);
    expect(version?.drift?.b).toEqual({
      count: afresh.count,
      mean: afresh.mean,
      std: afresh.std,
      quantiles: Object.fromEntries(QUANTILES.map((q, i) => [String(q), afresh.quantiles[i]])),
    });
    expect(version?.drift?.cdf?.b).toEqual(afresh.cdf);
    expect(afresh.cdf).toHaveLength(101);
    const { rows } = await sql<{ n: string; as_of: string }>`
      SELECT count(*) AS n, min(as_of)::text AS as_of FROM latest_estimates WHERE model = 'prices'`.execute(
      db(),
    );
    expect(rows[0]).toEqual({ n: '300', as_of: '2026-02-09 00:00:00+00' });
    // stored in the primary key's order (the source's index gave them descending), which makes
    // building the key a check that they are sorted
    const stored = await sql<{ key: string }>`
      SELECT key FROM ${sql.table(partitionName(version?.id ?? ''))} ORDER BY ctid`.execute(db());
    const keys = stored.rows.map((row) => row.key);
    expect(keys).toHaveLength(300);
    expect(keys).toEqual([...keys].sort());
  });

  it('a second run after new data publishes version 2 and supersedes 1', async () => {
    await advance(1);
    const run = await refresh();
    expect(run.version).toBe(2);
    const versions = await listVersions(db(), 'prices', { limit: 10 });
    expect(versions.map((v) => [v.number, v.state])).toEqual([
      [2, 'published'],
      [1, 'superseded'],
    ]);
    const { rows } = await sql<{ version: number; as_of: string }>`
      SELECT DISTINCT version, as_of::text FROM latest_estimates WHERE model = 'prices'`.execute(db());
    expect(rows).toEqual([{ version: 2, as_of: '2026-02-10 00:00:00+00' }]);
  });

  it('runs the same slot once, however often it is requested', async () => {
    const first = await requestRefresh(db(), pipeline().enqueue, {
      model: 'prices',
      slot: '20260301T0200Z',
      trigger: 'cron',
    });
    const second = await requestRefresh(db(), pipeline().enqueue, {
      model: 'prices',
      slot: '20260301T0200Z',
      trigger: 'cron',
    });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.run.id).toBe(first.run.id);
    await waitForRun(db(), first.run.id);
    const third = await requestRefresh(db(), pipeline().enqueue, {
      model: 'prices',
      slot: '20260301T0200Z',
      trigger: 'cron',
    });
    expect(third.created).toBe(false);
    const { rows } = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM runs WHERE slot = '20260301T0200Z'`.execute(db());
    expect(rows[0]?.n).toBe('1');
    expect((await listVersions(db(), 'prices', { limit: 10 })).length).toBe(3);
  });

  it('reads the source for every run through one scoring thread and its connection, kept between runs', async () => {
    const scoringBackends = async () =>
      (
        await sql<{ pid: number; state: string }>`
          SELECT pid, state FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'almanac-scoring'`.execute(db())
      ).rows;
    await advance(1);
    expect(await refresh()).toMatchObject({ state: 'succeeded', version: 4 });
    const kept = await scoringBackends();
    expect(kept).toEqual([{ pid: expect.any(Number), state: 'idle' }]);
    await advance(1);
    expect(await refresh()).toMatchObject({ state: 'succeeded', version: 5 });
    // the same backend, which has mapped the shared buffers already: a new one pays 0.5 s here
    expect(await scoringBackends()).toEqual(kept);
  });
});

describe('a source named in mixed case', () => {
  it('reads the table and columns as they were created, quoted, and scores the same values', async () => {
    await sql`CREATE SCHEMA "Shop"`.execute(db());
    await sql`CREATE TABLE "Shop"."DailyPrices" AS
      SELECT ticker AS "Ticker", day AS "Day", close AS "Close", ma_5 AS "Ma5", ma_20, volume_z,
             close_next AS "CloseNext"
      FROM demo.daily_prices`.execute(db());
    const source = {
      table: 'Shop.DailyPrices',
      key: 'Ticker',
      time: 'Day',
      target: 'CloseNext',
      features: ['Close', 'Ma5', 'ma_20', 'volume_z'],
    };
    await applySpec(db(), demoSpec({ name: 'shouting', source, drift: lenientDrift }));
    await applySpec(db(), demoSpec({ name: 'plain', drift: lenientDrift }));
    for (const model of ['shouting', 'plain']) {
      expect(await pipeline().refresh(model)).toMatchObject({ state: 'succeeded', error: null });
    }
    const { rows } = await sql<{ differ: string; n: string }>`
      SELECT count(*) FILTER (WHERE a.value IS DISTINCT FROM b.value) AS differ, count(*) AS n
      FROM latest_estimates a JOIN latest_estimates b USING (key)
      WHERE a.model = 'shouting' AND b.model = 'plain'`.execute(db());
    expect(rows[0]).toEqual({ differ: '0', n: '300' });
    // the planner's guess at its keys (progress, "shards": "auto") finds the schema's statistics
    await sql`ANALYZE "Shop"."DailyPrices"`.execute(db());
    expect(await estimatedKeys(db(), await resolveSource(db(), source))).toBeGreaterThan(0);
    // a name that reads as two tables is refused when the spec is applied
    await sql`CREATE TABLE shop_twin AS SELECT 1 AS x`.execute(db());
    await sql`CREATE TABLE "Shop_Twin" AS SELECT 1 AS x`.execute(db());
    await expect(
      applySpec(db(), demoSpec({ name: 'twin', source: { ...source, table: 'Shop_Twin' } })),
    ).rejects.toThrow(/names both "Shop_Twin" and shop_twin/);
  });
});
