import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tickerName } from '../seeds/market.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { Runtime } from '../src/runtime.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useFileRedisPrefix, useMarket } from './helpers/hooks.ts';
import { usePgCluster } from './helpers/pg-cluster.ts';
import { applySpec, demoSpec, lenientDrift, type Pipeline, startPipeline } from './helpers/pipeline.ts';
import { testRuntime } from './helpers/runtime.ts';

/**
 * DATABASE_READ_URL on a real streaming standby: a cluster of the test's own (the shared server
 * allows no replication), a primary and a standby made with `pg_basebackup -R`. Reads of a version
 * go to the standby once it has replayed that version, to the primary until then and while the
 * standby is down; no answer names a version the standby does not have, or mixes two.
 */

const KEYS = 300;
const cluster = usePgCluster('replica', { standbys: 1 });
const prefix = useFileRedisPrefix();

let runtime: Runtime;
let pipeline: Pipeline;
let api: TestApi;

const primary = () => cluster().primary;
const standby = () => {
  const server = cluster().standbys[0];
  if (server === undefined) throw new Error('no standby');
  return server;
};

beforeAll(async () => {
  await primary().query('CREATE DATABASE almanac');
  runtime = testRuntime(primary().url('almanac'), prefix.current, 'cli');
  await migrateToLatest(runtime.db);
});
const market = useMarket({ pool: () => runtime.pool }, { keys: KEYS, days: 40, seed: 11 });
beforeAll(async () => {
  const url = primary().url('almanac');
  await applySpec(runtime.db, demoSpec({ drift: lenientDrift }));
  pipeline = await startPipeline(url, prefix.current);
  expect((await pipeline.refresh('prices')).state).toBe('succeeded');
  api = await startTestApi(url, prefix.current, { readUrl: standby().url('almanac') });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await pipeline?.close();
  await runtime?.close();
});

/** Keys never looked up before in a version, so that the API's cache cannot answer them. */
const unused = new Map<number, number>();
function freshKeys(version: number, n: number): string[] {
  const from = unused.get(version) ?? 0;
  if (from + n > KEYS) throw new Error(`out of keys for version ${version}`);
  unused.set(version, from + n);
  return Array.from({ length: n }, (_, i) => tickerName(from + i));
}

/** A version's values as the primary holds them. */
async function valuesOf(version: number): Promise<Map<string, number>> {
  const { rows } = await runtime.pool.query<{ key: string; value: number }>(
    `SELECT e.key, e.value FROM estimates e JOIN versions v ON v.id = e.version_id
     WHERE v.model = 'prices' AND v.number = $1`,
    [version],
  );
  return new Map(rows.map((row) => [row.key, row.value]));
}

/** One sample of the API's metrics, by name and labels as written (`target="replica"`). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await api.request('/metrics')).text();
  const line = text
    .split('\n')
    .find((each) => each.startsWith(`${name}${labels === '' ? ' ' : `{${labels}}`}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function readsBy(): Promise<{ primary: number; replica: number }> {
  return {
    primary: await metric('almanac_db_reads_total', 'target="primary"'),
    replica: await metric('almanac_db_reads_total', 'target="replica"'),
  };
}

/** Single lookups of `keys` in `version` (the published one unless pinned): each 200 with the primary's value. */
async function lookUp(keys: string[], version: number, pinned = false): Promise<void> {
  const expected = await valuesOf(version);
  for (const key of keys) {
    const res = await api.json(`/v1/models/prices/estimates/${key}${pinned ? `?version=${version}` : ''}`);
    expect(res.status, key).toBe(200);
    expect(res.headers.get('estimate-version')).toBe(String(version));
    expect(res.body).toMatchObject({ version, key, value: expected.get(key) });
  }
}

/** Lookups of fresh keys until one is read on the replica; how many the primary answered first. */
async function untilReplicaReads(version: number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let onPrimary = 0;
  for (;;) {
    const before = await readsBy();
    await lookUp(freshKeys(version, 1), version);
    const after = await readsBy();
    if (after.replica > before.replica) return onPrimary;
    onPrimary += after.primary - before.primary;
    if (Date.now() > deadline)
      throw new Error(`the replica read nothing of version ${version} in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function csvRows(path: string): Promise<{ version: string | null; rows: Map<string, number> }> {
  const res = await api.request(path);
  expect(res.status).toBe(200);
  const lines = (await res.text()).trim().split('\n').slice(1);
  return {
    version: res.headers.get('estimate-version'),
    rows: new Map(
      lines.map((line) => {
        const [key = '', value = ''] = line.split(',');
        return [key, Number(value)];
      }),
    ),
  };
}

describe('reads from a streaming standby (DATABASE_READ_URL)', () => {
  it('reads versions the standby has replayed there: lookups, batches, snapshots', async () => {
    await untilReplicaReads(1);
    const before = await readsBy();
    await lookUp(freshKeys(1, 5), 1);
    const keys = freshKeys(1, 40);
    const expected = await valuesOf(1);
    const batch = await api.post('/v1/models/prices/estimates/batch', { keys });
    expect(batch.status).toBe(200);
    expect(batch.body.version).toBe(1);
    expect(batch.body.missing).toEqual([]);
    for (const estimate of batch.body.estimates) expect(estimate.value).toBe(expected.get(estimate.key));
    const snapshot = await csvRows('/v1/models/prices/versions/latest/snapshot');
    expect(snapshot.version).toBe('1');
    expect(snapshot.rows).toEqual(expected);
    const after = await readsBy();
    expect(after.replica - before.replica).toBe(5 + 1 + 1);
    expect(after.primary).toBe(before.primary);

    // the standby's sessions are the API's read pool; the primary has none of them
    const names = async (server: ReturnType<typeof primary>) =>
      (
        await server.query<{ name: string }>(
          "SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = 'almanac'",
        )
      ).map((row) => row.name);
    expect(await names(standby())).toContain('almanac-api-read');
    expect(await names(primary())).not.toContain('almanac-api-read');
    expect(await metric('almanac_db_replica_up')).toBe(1);
    expect((await api.json('/readyz')).body.checks.replica).toBe('ok');
  });

  it('answers a version the standby has not replayed from the primary (lookups, batches, snapshots, diffs), and from the standby once it has', async () => {
    await standby().query('SELECT pg_wal_replay_pause()');
    for (;;) {
      const [row] = await standby().query<{ state: string }>(
        'SELECT pg_get_wal_replay_pause_state() AS state',
      );
      if (row?.state === 'paused') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await market.advance(1);
    expect((await pipeline.refresh('prices')).state).toBe('succeeded');
    for (let i = 0; api.catalog.model('prices')?.published?.number !== 2; i += 1) {
      if (i > 500) throw new Error('the API did not see version 2 published');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // the standby does not have it: reading it there would answer 404 or version 1
    const published = async () =>
      (
        await standby().query<{ number: number }>(
          "SELECT number FROM versions WHERE model = 'prices' AND state = 'published'",
          [],
          'almanac',
        )
      ).map((row) => row.number);
    expect(await published()).toEqual([1]);

    const before = await readsBy();
    const behind = await metric('almanac_db_replica_fallbacks_total', 'reason="behind"');
    await lookUp(freshKeys(2, 5), 2);
    await lookUp(freshKeys(2, 2), 2, true);
    const expected = await valuesOf(2);
    const batch = await api.post('/v1/models/prices/estimates/batch', { keys: freshKeys(2, 40) });
    expect(batch.status).toBe(200);
    expect(batch.body.version).toBe(2);
    expect(batch.body.missing).toEqual([]);
    for (const estimate of batch.body.estimates) {
      expect(estimate.version).toBe(2);
      expect(estimate.value).toBe(expected.get(estimate.key));
    }
    const snapshot = await csvRows('/v1/models/prices/versions/latest/snapshot');
    expect(snapshot.version).toBe('2');
    expect(snapshot.rows).toEqual(expected);
    const diff = await api.json('/v1/models/prices/diff?from=1&to=2');
    expect(diff.status).toBe(200);
    expect(diff.body.candidate).toEqual({ model: 'prices', version: 2 });
    expect(diff.body.coverage.both).toBe(KEYS);
    const middle = await readsBy();
    expect(middle.replica).toBe(before.replica);
    expect(middle.primary - before.primary).toBe(5 + 2 + 1 + 1 + 1);
    expect(await metric('almanac_db_replica_fallbacks_total', 'reason="behind"')).toBe(behind + 10);
    expect(await metric('almanac_db_replica_lag_bytes')).toBeGreaterThan(0);

    // a version the standby has replayed is still read there meanwhile
    await lookUp(freshKeys(1, 1), 1, true);
    expect((await readsBy()).replica).toBe(before.replica + 1);

    await standby().query('SELECT pg_wal_replay_resume()');
    await untilReplicaReads(2);
    await lookUp(freshKeys(2, 3), 2);
    expect(await published()).toEqual([2]);
    const replicaBefore = (await readsBy()).replica;
    const changes = await api.request('/v1/models/prices/diff?from=1&to=2&format=csv');
    expect(changes.status).toBe(200);
    expect((await changes.text()).trim().split('\n')).toHaveLength(KEYS + 1);
    // the report of another pair is computed on the standby (the pair above is cached)
    const reverse = await api.json('/v1/models/prices/diff?from=2&to=1');
    expect(reverse.status).toBe(200);
    expect(reverse.body.coverage.both).toBe(KEYS);
    expect((await readsBy()).replica).toBe(replicaBefore + 2);
    expect(await metric('almanac_db_replica_catch_up_seconds_count')).toBeGreaterThanOrEqual(1);
  });

  it('answers from the primary while the standby is stopped, and from the standby once it is back', async () => {
    await standby().stop('fast');
    const before = await readsBy();
    await lookUp(freshKeys(2, 5), 2);
    const batch = await api.post('/v1/models/prices/estimates/batch', { keys: freshKeys(2, 10) });
    expect(batch.status).toBe(200);
    expect(batch.body.estimates).toHaveLength(10);
    const after = await readsBy();
    expect(after.primary - before.primary).toBe(6);
    expect(after.replica).toBe(before.replica);
    const ready = await api.json('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.replica).toMatch(/^it (does not answer|failed a read)/);
    expect(await metric('almanac_db_replica_up')).toBe(0);
    expect(
      (await metric('almanac_db_replica_fallbacks_total', 'reason="error"')) +
        (await metric('almanac_db_replica_fallbacks_total', 'reason="down"')),
    ).toBeGreaterThan(0);

    await standby().start();
    await untilReplicaReads(2);
    expect((await api.json('/readyz')).body.checks.replica).toBe('ok');
  });

  it('never reads from a server that is not a standby', async () => {
    // a read URL naming the primary itself (or any server not in recovery) could not say what it has replayed
    const misread = await startTestApi(primary().url('almanac'), prefix.current, {
      readUrl: primary().url('almanac'),
    });
    try {
      const key = tickerName(KEYS - 1);
      const res = await misread.json(`/v1/models/prices/estimates/${key}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: 2, value: (await valuesOf(2)).get(key) });
      const metrics = await (await misread.request('/metrics')).text();
      expect(metrics).toContain('almanac_db_reads_total{target="primary"} 1');
      expect(metrics).toContain('almanac_db_replica_fallbacks_total{reason="down"} 1');
      expect(metrics).toContain('almanac_db_replica_up 0');
      const ready = await misread.json('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.replica).toBe('it is not a standby (pg_is_in_recovery() is false)');
    } finally {
      await misread.close();
    }
  });
});
