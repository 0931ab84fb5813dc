import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findVersion } from '../src/db/versions.ts';
import { requestRefresh } from '../src/runs/request.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec } from './helpers/pipeline.ts';

const { db, pipeline } = useTestSetup('failures', {
  market: { keys: 100, days: 30, seed: 5 },
  pipeline: true,
  each: true,
});
const refresh = (model: string) => pipeline().refresh(model);

beforeAll(async () => {
  await sql`CREATE SCHEMA shop`.execute(db());
});

async function tablesOf(model: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT 'estimates_v' || v.id AS name FROM versions v
    WHERE v.model = ${model} AND to_regclass('estimates_v' || v.id) IS NOT NULL ORDER BY v.number`.execute(
    db(),
  );
  return rows.map((row) => row.name);
}

describe('a refresh that fails', () => {
  it('leaves its version failed, no rows anywhere, and the published version served', async () => {
    await applySpec(db(), demoSpec({ name: 'breaks' }));
    expect(await refresh('breaks')).toMatchObject({ state: 'succeeded', version: 1 });
    await sql`ALTER TABLE demo.daily_prices RENAME COLUMN volume_z TO vol_z`.execute(db());
    try {
      const failed = await refresh('breaks');
      expect(failed).toMatchObject({ state: 'failed', version: 2, attempts: 1 });
      expect(failed.error).toBe('column "volume_z" does not exist in demo.daily_prices');
      expect(await findVersion(db(), 'breaks', 2)).toMatchObject({
        state: 'failed',
        lineage: { error: 'column "volume_z" does not exist in demo.daily_prices' },
      });
      expect(await findVersion(db(), 'breaks', 1)).toMatchObject({ state: 'published' });
      expect(await tablesOf('breaks')).toHaveLength(1);
      const { rows } =
        await sql`SELECT DISTINCT version FROM latest_estimates WHERE model = 'breaks'`.execute(db());
      expect(rows).toEqual([{ version: 1 }]);
    } finally {
      await sql`ALTER TABLE demo.daily_prices RENAME COLUMN vol_z TO volume_z`.execute(db());
    }
    // the next run numbers on: failed versions keep their number
    expect(await refresh('breaks')).toMatchObject({ state: 'succeeded', version: 3 });
  });

  it('fails at once on a duplicate key at its newest time', async () => {
    await sql`CREATE TABLE shop.sales (sku text, day date, units float8, units_next float8)`.execute(db());
    await sql`INSERT INTO shop.sales VALUES ('a', '2026-01-01', 1, 2), ('a', '2026-01-02', 2, NULL),
              ('b', '2026-01-01', 5, 6), ('b', '2026-01-02', 6, NULL), ('b', '2026-01-02', 7, NULL)`.execute(
      db(),
    );
    await applySpec(db(), {
      name: 'dupes',
      estimator: 'naive',
      source: { table: 'shop.sales', key: 'sku', time: 'day', target: 'units_next', features: ['units'] },
      trainWindowDays: 10,
      holdoutDays: 0,
    });
    const failed = await refresh('dupes');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1 });
    expect(failed.error).toBe('duplicate key "b": 2 source rows at its newest time 2026-01-02');
    expect(await tablesOf('dupes')).toEqual([]);
    // a scoring thread whose read failed is not kept for the next run, nor is its connection
    await expect
      .poll(async () => {
        const { rows } = await sql<{ n: string }>`
          SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'almanac-scoring'`.execute(db());
        return rows[0]?.n;
      })
      .toBe('0');
  });

  it('fails at once on an empty source', async () => {
    await sql`CREATE TABLE shop.empty (sku text, day date, units float8, units_next float8)`.execute(db());
    await applySpec(db(), {
      name: 'empty',
      estimator: 'naive',
      source: { table: 'shop.empty', key: 'sku', time: 'day', target: 'units_next', features: ['units'] },
    });
    const failed = await refresh('empty');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1 });
    expect(failed.error).toBe('source shop.empty has no rows with a known units_next; nothing to train on');
    expect(await findVersion(db(), 'empty', 1)).toMatchObject({ state: 'failed' });
  });

  it('counts and skips rows with null or non-finite features', async () => {
    await sql`CREATE TABLE shop.gaps (sku text, day date, units float8, units_next float8, PRIMARY KEY (sku, day))`.execute(
      db(),
    );
    await sql`INSERT INTO shop.gaps VALUES ('a', '2026-01-01', 1, 2), ('a', '2026-01-02', 2, NULL),
              ('b', '2026-01-01', 'NaN', 6), ('b', '2026-01-02', NULL, NULL),
              ('c', '2026-01-01', 3, 'Infinity'), ('c', '2026-01-02', 'Infinity', NULL),
              ('d', '2026-01-01', 4, 5), ('d', '2026-01-02', 5, NULL)`.execute(db());
    await applySpec(db(), {
      name: 'gaps',
      estimator: 'naive',
      source: { table: 'shop.gaps', key: 'sku', time: 'day', target: 'units_next', features: ['units'] },
      trainWindowDays: 5,
      holdoutDays: 0,
    });
    expect(await refresh('gaps')).toMatchObject({ state: 'succeeded', version: 1 });
    const version = await findVersion(db(), 'gaps', 1);
    expect(version).toMatchObject({
      rowCount: 2,
      lineage: {
        training: { rows: { train: 2, skipped: 2 } },
        scoring: { rows: 2, skippedRows: 2, skippedKeys: 0 },
      },
    });
  });

  it('refuses to refresh an external model or an unknown one', async () => {
    await applySpec(db(), { name: 'outside', estimator: 'external' });
    await expect(
      requestRefresh(db(), pipeline().enqueue, { model: 'outside', trigger: 't' }),
    ).rejects.toThrow(
      'model "outside" is external: its versions are imported (`almanac import`), not refreshed',
    );
    await expect(requestRefresh(db(), pipeline().enqueue, { model: 'ghost', trigger: 't' })).rejects.toThrow(
      'model "ghost" does not exist',
    );
  });
});

describe('keys of every shape', () => {
  it('keeps unicode and backslashes intact and skips keys that cannot be served', async () => {
    await sql`CREATE TABLE shop.odd (sku text, day date, units float8, units_next float8, PRIMARY KEY (sku, day))`.execute(
      db(),
    );
    const keys = [
      'Zürich 8001',
      'back\\slash',
      'quote"d, comma',
      '日本',
      'tab\there',
      'new\nline',
      '',
      'k'.repeat(257),
      'k'.repeat(256),
    ];
    for (const key of keys) {
      await sql`INSERT INTO shop.odd VALUES (${key}, '2026-01-01', 1, 2), (${key}, '2026-01-02', 3, NULL)`.execute(
        db(),
      );
    }
    await applySpec(db(), {
      name: 'odd',
      estimator: 'naive',
      source: { table: 'shop.odd', key: 'sku', time: 'day', target: 'units_next', features: ['units'] },
      trainWindowDays: 5,
      holdoutDays: 0,
    });
    expect(await refresh('odd')).toMatchObject({ state: 'succeeded' });
    const { rows } = await sql<{ key: string; value: number }>`
      SELECT key, value FROM latest_estimates WHERE model = 'odd' ORDER BY key`.execute(db());
    expect(rows.map((row) => row.key)).toEqual([
      'Zürich 8001',
      'back\\slash',
      'k'.repeat(256),
      'quote"d, comma',
      '日本',
    ]);
    expect(rows.every((row) => row.value === 3)).toBe(true);
    expect(await findVersion(db(), 'odd', 1)).toMatchObject({
      lineage: { scoring: { rows: 5, skippedRows: 0, skippedKeys: 4 } },
    });
  });
});
