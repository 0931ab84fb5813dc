import { hostname } from 'node:os';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRunShards } from '../src/db/run-shards.ts';
import type { Run } from '../src/db/runs.ts';
import { findVersion, type Version } from '../src/db/versions.ts';
import { autoShards } from '../src/pipeline/shards.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, lenientDrift, strayTables } from './helpers/pipeline.ts';

// The demo market, as `almanac seed` makes it by default (seedDefaults in src/cli/commands/seed.ts).
const KEYS = 5000;
const { db, pipeline, database, prefix } = useTestSetup('sharded-scoring', {
  market: { keys: KEYS, days: 120, seed: 42 },
  pipeline: true,
});
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi(database.url, prefix.current);
});
afterAll(async () => {
  await api?.close();
});

/** A spec over the demo market, named and sharded; the same training and data whatever its shards. */
const shardedSpec = (name: string, shards: number | string) =>
  demoSpec({ name, shards, drift: lenientDrift });

async function refreshed(name: string): Promise<{ run: Run; version: Version }> {
  const run = await pipeline().refresh(name);
  expect(run).toMatchObject({ state: 'succeeded', error: null });
  const version = await findVersion(db(), name, run.version ?? 0);
  if (version === undefined) throw new Error(`${name} has no version ${run.version}`);
  return { run, version };
}

/** Every estimate of a version, in key order. */
async function estimatesOf(name: string, number: number) {
  const { rows } = await sql<{ key: string; value: number; lower: number; upper: number; as_of: string }>`
    SELECT key, value, lower, upper, as_of::text FROM served_estimates
    WHERE model = ${name} AND version = ${number} ORDER BY key`.execute(db());
  return rows;
}

/**
 * Makes a DDL statement (`tag`) on a table whose name matches `table` fail with SQLSTATE `code`,
 * its first `times` times: a real Postgres error, raised by an event trigger at the end of the
 * statement, which rolls it back like any failure there. Attempts are counted by a sequence, which
 * a rollback does not undo.
 */
async function failStatement(
  tag: 'CREATE TABLE' | 'ALTER TABLE',
  table: string,
  code: string,
  times: number,
): Promise<{ attempts: () => Promise<number>; restore: () => Promise<void> }> {
  await sql`DROP EVENT TRIGGER IF EXISTS fail_statement`.execute(db());
  await sql`DROP SEQUENCE IF EXISTS fail_statement_attempts`.execute(db());
  await sql`CREATE SEQUENCE fail_statement_attempts`.execute(db());
  await sql`
    CREATE OR REPLACE FUNCTION fail_statement() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE
      target text;
    BEGIN
      SELECT object_identity INTO target FROM pg_event_trigger_ddl_commands()
      WHERE object_type = 'table' AND object_identity ~ ${sql.lit(`^public[.]${table}$`)} LIMIT 1;
      IF target IS NOT NULL THEN
        IF nextval('fail_statement_attempts') <= ${sql.lit(times)} THEN
          RAISE EXCEPTION 'injected failure of %', target USING ERRCODE = ${sql.lit(code)};
        END IF;
      END IF;
    END $$`.execute(db());
  await sql`CREATE EVENT TRIGGER fail_statement ON ddl_command_end WHEN TAG IN (${sql.lit(tag)})
            EXECUTE FUNCTION fail_statement()`.execute(db());
  return {
    attempts: async () => {
      const { rows } = await sql<{ n: string }>`SELECT last_value AS n FROM fail_statement_attempts`.execute(
        db(),
      );
      return Number(rows[0]?.n);
    },
    restore: async () => {
      await sql`DROP EVENT TRIGGER IF EXISTS fail_statement`.execute(db());
    },
  };
}

describe('sharded scoring', () => {
  it('gives the same estimates as an unsharded run, value for value', async () => {
    await applySpec(db(), shardedSpec('whole', 1));
    await applySpec(db(), shardedSpec('split', 3));
    const whole = await refreshed('whole');
    const split = await refreshed('split');

    expect(split.version).toMatchObject({ state: 'published', rowCount: KEYS });
    expect(split.version.rowCount).toBe(whole.version.rowCount);
    // the checksum is order-independent: the same rows give the same checksum however written
    expect(split.version.checksum).toBe(whole.version.checksum);
    const [a, b] = [await estimatesOf('whole', 1), await estimatesOf('split', 1)];
    expect(b).toHaveLength(KEYS);
    expect(b).toEqual(a);
    expect(split.version.metrics).toEqual(whole.version.metrics);
    expect(split.version.lineage).toMatchObject({
      shards: 3,
      scoring: { rows: KEYS, skippedRows: 0, skippedKeys: 0 },
      artifact: whole.version.lineage.artifact,
    });
    expect(Object.keys(split.version.lineage.phasesMs ?? {})).toEqual(
      expect.arrayContaining(['checking', 'training', 'scoring', 'indexing', 'validating', 'publishing']),
    );
    expect(whole.version.lineage.shards).toBe(1);

    const shards = await listRunShards(db(), split.run.id);
    expect(shards.map((s) => [s.index, s.state, s.attempts])).toEqual([
      [0, 'succeeded', 1],
      [1, 'succeeded', 1],
      [2, 'succeeded', 1],
    ]);
    expect(shards.reduce((sum, s) => sum + s.rows, 0)).toBe(KEYS);
    // hash shares of 5,000 keys are near a third each
    for (const shard of shards) expect(shard.rows).toBeGreaterThan(KEYS / 6);
    // the parent ran once: trained, waited for its children without a worker slot, resumed
    expect(split.run.attempts).toBe(1);
    expect(await strayTables(db())).toEqual([]);
  });

  it('shows each shard in GET /v1/runs/:runId (none for an unsharded run)', async () => {
    const { rows } = await sql<{ id: string; model: string }>`
      SELECT id, model FROM runs WHERE model IN ('whole', 'split')`.execute(db());
    for (const run of rows) {
      const res = await api.json(`/v1/runs/${run.id}`);
      expect(res.status).toBe(200);
      if (run.model === 'whole') {
        expect(res.body.shards).toEqual([]);
        continue;
      }
      expect(res.body).toMatchObject({ state: 'succeeded', phase: 'done', progress: 1 });
      expect(res.body.shards).toHaveLength(3);
      for (const [index, shard] of (res.body.shards as Record<string, unknown>[]).entries()) {
        expect(shard).toEqual({
          index,
          state: 'succeeded',
          rows: expect.any(Number),
          worker: `${hostname()}:${process.pid}`,
        });
      }
    }
    const doc = await api.json('/openapi.json');
    expect(doc.body.paths['/v1/runs/{runId}'].get.responses['200'].content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/RunDetail' } },
    });
    expect(doc.body.components.schemas.RunDetail.allOf[1].properties.shards).toMatchObject({
      type: 'array',
      items: { $ref: '#/components/schemas/RunShard' },
    });
  });

  it('retries a failed shard alone, and the run still publishes', async () => {
    await applySpec(db(), shardedSpec('retried', 3));
    const fault = await failStatement('CREATE TABLE', 'estimates_v[0-9]+_s1', '40001', 1);
    try {
      const { run, version } = await refreshed('retried');
      expect(version).toMatchObject({ state: 'published', rowCount: KEYS });
      expect(version.checksum).toBe((await findVersion(db(), 'whole', 1))?.checksum);
      const shards = await listRunShards(db(), run.id);
      expect(shards.map((s) => [s.index, s.state, s.attempts, s.error])).toEqual([
        [0, 'succeeded', 1, null],
        [1, 'succeeded', 2, null],
        [2, 'succeeded', 1, null],
      ]);
      expect(run.attempts).toBe(1);
      expect(await fault.attempts()).toBe(2);
    } finally {
      await fault.restore();
    }
    expect(await strayTables(db())).toEqual([]);
  });

  it('resumes a parent that failed after attaching its shards from its step, keeping their output', async () => {
    await applySpec(db(), shardedSpec('resumed', 2));
    // the version's table goes into `estimates` last, after its shards were attached and indexed
    const fault = await failStatement('ALTER TABLE', 'estimates', '40001', 1);
    try {
      const { run, version } = await refreshed('resumed');
      expect(version).toMatchObject({ state: 'published', rowCount: KEYS });
      expect(version.checksum).toBe((await findVersion(db(), 'whole', 1))?.checksum);
      expect(await fault.attempts()).toBe(2);
      // the children ran once each: the parent's retry kept what they wrote
      const shards = await listRunShards(db(), run.id);
      expect(shards.map((s) => [s.state, s.attempts])).toEqual([
        ['succeeded', 1],
        ['succeeded', 1],
      ]);
    } finally {
      await fault.restore();
    }
    expect(await strayTables(db())).toEqual([]);
  });

  it('fails the run cleanly when a shard fails for good', async () => {
    await applySpec(db(), shardedSpec('broken', 2));
    const published = await refreshed('broken');
    const fault = await failStatement('CREATE TABLE', 'estimates_v[0-9]+_s1', '22023', 1_000);
    let run: Run;
    try {
      run = await pipeline().refresh('broken');
    } finally {
      await fault.restore();
    }
    expect(run).toMatchObject({ state: 'failed', version: 2 });
    expect(run.error).toMatch(/^shard 1 failed: injected failure of public[.]estimates_v\d+_s1$/);
    expect(await findVersion(db(), 'broken', 2)).toMatchObject({
      state: 'failed',
      lineage: { error: run.error },
    });
    expect(await findVersion(db(), 'broken', 1)).toMatchObject({ state: 'published' });
    const served = await api.json('/v1/models/broken/estimates/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: [(await estimatesOf('broken', 1))[0]?.key] }),
    });
    expect(served.headers.get('estimate-version')).toBe(String(published.version.number));
    const shards = await listRunShards(db(), run.id);
    expect(shards.map((s) => [s.index, s.state])).toEqual([
      [0, 'succeeded'],
      [1, 'failed'],
    ]);
    expect(await strayTables(db())).toEqual([]);
  });

  it('"auto" picks one shard per 250,000 keys, at most 8', async () => {
    expect([1, 5000, 250_000, 250_001, 1_000_000, 10_000_000].map(autoShards)).toEqual([1, 1, 1, 2, 4, 8]);
    await applySpec(db(), shardedSpec('auto', 'auto'));
    const { run, version } = await refreshed('auto');
    expect(version).toMatchObject({ state: 'published', rowCount: KEYS });
    expect(version.lineage.shards).toBe(1);
    expect(await listRunShards(db(), run.id)).toEqual([]);
  });

  it('refuses a spec whose shards are not 1 to 64 or "auto", naming the field', async () => {
    for (const shards of [0, 65, 'x', 2.5]) {
      const res = await api.json('/v1/models/bad', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...shardedSpec('bad', 1), shards }),
      });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        { path: 'body.shards', message: 'must be a whole number from 1 to 64, or "auto"' },
      ]);
    }
  });
});
