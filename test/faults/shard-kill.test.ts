import { hostname } from 'node:os';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { listRunShards } from '../../src/db/run-shards.ts';
import { findRun } from '../../src/db/runs.ts';
import { findVersion, listVersions } from '../../src/db/versions.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import { useCleanups, useConnections, useMarket, useRedisPrefix, useTestDatabase } from '../helpers/hooks.ts';
import {
  applySpec,
  demoSpec,
  lenientDrift,
  startPipeline,
  strayTables,
  waitForRun,
} from '../helpers/pipeline.ts';
import type { RunningBin } from '../helpers/spawn.ts';
import { resumeStalled, spawnWorker, waitFor } from '../helpers/worker-process.ts';

// Enough keys that a shard scores for a few seconds: long enough to be caught at it.
const KEYS = 300_000;
const database = useTestDatabase('shard-kill');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
const cleanups = useCleanups();
useMarket({ pool }, { keys: KEYS, days: 3, seed: 11, start: '2026-03-01' });

const spec = (name: string, shards: number) =>
  demoSpec({ name, shards, trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift });

beforeAll(async () => {
  await applySpec(db(), spec('whole', 1));
  await applySpec(db(), spec('split', 2));
}, 120_000);

function worker(): RunningBin {
  const spawned = spawnWorker({
    DATABASE_URL: database.url,
    ALMANAC_REDIS_PREFIX: prefix.current,
    ALMANAC_WORKER_CONCURRENCY: '1',
  });
  cleanups.push(async () => {
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) {
      spawned.child.kill('SIGKILL');
      await spawned.exited;
    }
  });
  return spawned;
}

/** The checksum of the same data scored in one piece (made by the first test that asks). */
async function referenceChecksum(): Promise<string | null | undefined> {
  const found = await findVersion(db(), 'whole', 1);
  if (found !== undefined) return found.checksum;
  const reference = await startPipeline(database.url, prefix.current);
  try {
    expect(await reference.refresh('whole')).toMatchObject({ state: 'succeeded', version: 1 });
  } finally {
    await reference.close();
  }
  return (await findVersion(db(), 'whole', 1))?.checksum;
}

/** Requests a run of `split` and waits until the spawned worker `first` holds one of its shards. */
async function shardHeldBy(first: RunningBin) {
  const producer = await startPipeline(database.url, prefix.current, { worker: false });
  cleanups.push(producer.close);
  const { run } = await requestRefresh(db(), producer.enqueue, { model: 'split', trigger: 'test' });
  const name = `${hostname()}:${first.child.pid}`;
  const held = await waitFor(
    async () =>
      (await listRunShards(db(), run.id)).find((shard) => shard.state === 'running' && shard.worker === name),
    60_000,
    `the spawned worker to start a shard\n${first.output()}`,
  );
  return { run, held };
}

/** The run ended with one complete version, every shard succeeded, and nothing is left over. */
async function expectOneCompleteVersion(runId: string, expected: string | null | undefined) {
  const finished = await findRun(db(), runId);
  const shards = await listRunShards(db(), runId);
  expect(shards.map((s) => s.state)).toEqual(['succeeded', 'succeeded']);
  expect(shards.reduce((sum, s) => sum + s.rows, 0)).toBe(KEYS);
  const version = await findVersion(db(), 'split', finished?.version ?? 0);
  expect(version).toMatchObject({ state: 'published', rowCount: KEYS, checksum: expected });
  const versions = await listVersions(db(), 'split', { limit: 10 });
  expect(versions.filter((v) => v.state === 'published' || v.state === 'running')).toHaveLength(1);
  expect(await strayTables(db())).toEqual([]);
  const { rows } = await sql<{ runs: string; versions: string; shards: string }>`
    SELECT (SELECT count(*) FROM runs WHERE state IN ('queued', 'running')) AS runs,
           (SELECT count(*) FROM versions WHERE state = 'running') AS versions,
           (SELECT count(*) FROM run_shards WHERE state IN ('pending', 'running')) AS shards`.execute(db());
  expect(rows[0]).toEqual({ runs: '0', versions: '0', shards: '0' });
  return shards;
}

describe('a sharded run survives the worker holding one of its shards', () => {
  it('SIGKILLed mid-shard: another worker takes the shard over and one complete version is published', async () => {
    const expected = await referenceChecksum();
    const doomed = worker();
    const { run, held } = await shardHeldBy(doomed);
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const rescuer = worker();
    const finished = await waitForRun(db(), run.id, 120_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${rescuer.output()}`);
    });
    expect(finished).toMatchObject({ state: 'succeeded', version: 1, error: null, attempts: 1 });
    const shards = await expectOneCompleteVersion(run.id, expected);
    expect(shards[held.index]).toMatchObject({
      worker: `${hostname()}:${rescuer.child.pid}`,
      attempts: 2,
      error: null,
    });
  });

  it('a stalled shard that wakes after its replacement took over can write nothing', async () => {
    const expected = await referenceChecksum();
    const stalled = worker();
    const { run, held } = await shardHeldBy(stalled);
    stalled.child.kill('SIGSTOP');

    // The replacement finds the stalled attempt's connection still holding the shard's lock, and
    // terminates it before taking the lock.
    const replacement = worker();
    const finished = await waitForRun(db(), run.id, 120_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${replacement.output()}`);
    });
    expect(finished).toMatchObject({ state: 'succeeded', error: null });
    await resumeStalled(stalled, /lost its database connection|shard attempt failed|shard failed/, 30_000);
    await stalled.stop();

    const shards = await expectOneCompleteVersion(run.id, expected);
    // the stale attempt recorded nothing over its replacement's outcome
    expect(shards[held.index]).toMatchObject({
      worker: `${hostname()}:${replacement.child.pid}`,
      attempts: 2,
      error: null,
    });
    expect(replacement.output()).toMatch(/taking over from a stalled attempt/);
  });
});
