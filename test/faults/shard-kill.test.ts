import { hostname } from 'node:os';
import { sql } from 'kysely';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listRunShards } from '../../src/db/run-shards.ts';
import { findRun } from '../../src/db/runs.ts';
import { findVersion, listVersions } from '../../src/db/versions.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import { useConnections, useMarket, useRedisPrefix, useTestDatabase } from '../helpers/hooks.ts';
import {
  applySpec,
  demoSpec,
  lenientDrift,
  startPipeline,
  strayTables,
  waitForRun,
} from '../helpers/pipeline.ts';
import type { RunningBin } from '../helpers/spawn.ts';
import { spawnWorker, waitFor } from '../helpers/worker-process.ts';

// Enough keys that a shard scores for a few seconds: long enough to be caught at it.
const KEYS = 300_000;
const database = useTestDatabase('shard-kill');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
const cleanups: (() => Promise<void>)[] = [];
useMarket({ pool }, { keys: KEYS, days: 3, seed: 11, start: '2026-03-01' });

const spec = (name: string, shards: number) =>
  demoSpec({ name, shards, trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift });

beforeAll(async () => {
  await applySpec(db(), spec('whole', 1));
  await applySpec(db(), spec('split', 2));
}, 120_000);
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

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

describe('a sharded run survives the worker holding one of its shards', () => {
  it('SIGKILLed mid-shard: another worker takes the shard over and one complete version is published', async () => {
    // the reference: the same data scored in one piece
    const reference = await startPipeline(database.url, prefix.current);
    cleanups.push(reference.close);
    const whole = await reference.refresh('whole');
    expect(whole).toMatchObject({ state: 'succeeded', version: 1 });
    await reference.close();
    cleanups.pop();
    const expected = await findVersion(db(), 'whole', 1);

    const doomed = worker();
    const producer = await startPipeline(database.url, prefix.current, { worker: false });
    cleanups.push(producer.close);
    const { run } = await requestRefresh(db(), producer.enqueue, { model: 'split', trigger: 'test' });
    const doomedName = `${hostname()}:${doomed.child.pid}`;
    const held = await waitFor(
      async () =>
        (await listRunShards(db(), run.id)).find(
          (shard) => shard.state === 'running' && shard.worker === doomedName,
        ),
      60_000,
      `the spawned worker to start a shard\n${doomed.output()}`,
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const rescuer = worker();
    const finished = await waitForRun(db(), run.id, 120_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${rescuer.output()}`);
    });
    expect(finished).toMatchObject({ state: 'succeeded', version: 1, error: null });

    const rescuerName = `${hostname()}:${rescuer.child.pid}`;
    const shards = await listRunShards(db(), run.id);
    expect(shards.map((s) => s.state)).toEqual(['succeeded', 'succeeded']);
    const taken = shards[held.index];
    expect(taken).toMatchObject({ worker: rescuerName, attempts: 2, error: null });
    expect(shards.reduce((sum, s) => sum + s.rows, 0)).toBe(KEYS);

    const versions = await listVersions(db(), 'split', { limit: 10 });
    expect(versions.map((v) => [v.number, v.state, v.rowCount])).toEqual([[1, 'published', KEYS]]);
    expect(versions[0]?.checksum).toBe(expected?.checksum);
    expect(await strayTables(db())).toEqual([]);
    const { rows } = await sql<{ runs: string; versions: string; shards: string }>`
      SELECT (SELECT count(*) FROM runs WHERE state IN ('queued', 'running')) AS runs,
             (SELECT count(*) FROM versions WHERE state = 'running') AS versions,
             (SELECT count(*) FROM run_shards WHERE state IN ('pending', 'running')) AS shards`.execute(db());
    expect(rows[0]).toEqual({ runs: '0', versions: '0', shards: '0' });
    expect(await findRun(db(), run.id)).toMatchObject({ attempts: 1 });
  });
});
