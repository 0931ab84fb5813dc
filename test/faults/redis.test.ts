import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { requestRefresh } from '../../src/runs/request.ts';
import { connectedProducer } from '../../src/runtime.ts';
import { useCleanups, useConnections, useMarket, useTestDatabase } from '../helpers/hooks.ts';
import { invariantViolations } from '../helpers/invariants.ts';
import { applySpec, demoSpec, lenientDrift, waitForRun } from '../helpers/pipeline.ts';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.ts';
import { testRuntime } from '../helpers/runtime.ts';
import { newRedisPrefix } from '../helpers/services.ts';
import type { RunningBin } from '../helpers/spawn.ts';
import { spawnWorker, waitFor } from '../helpers/worker-process.ts';

const database = useTestDatabase('fault-redis');
const { db, pool } = useConnections(database);
useMarket({ pool }, { keys: 150_000, days: 3, seed: 29, start: '2026-03-01' });
const cleanups = useCleanups();
const prefix = newRedisPrefix();

beforeAll(async () => {
  await applySpec(db(), demoSpec({ trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift }));
}, 120_000);

async function redisServer(persist: boolean): Promise<RedisServer> {
  const server = await startRedisServer({ persist });
  cleanups.push(server.close);
  return server;
}

function worker(redis: RedisServer): RunningBin {
  const running = spawnWorker({
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    ALMANAC_REDIS_PREFIX: prefix,
    ALMANAC_JOB_LOCK_MS: '2000',
    ALMANAC_RECONCILE_MS: '1000',
  });
  cleanups.push(async () => {
    await running.stop('SIGKILL');
  });
  return running;
}

/** Requests a manual run through a producer on the given Redis. */
async function request(redis: RedisServer) {
  const runtime = testRuntime(database.url, prefix, 'cli', { REDIS_URL: redis.url });
  try {
    const producer = await connectedProducer(runtime);
    const { run } = await requestRefresh(db(), producer.enqueueRefresh, {
      model: 'prices',
      trigger: 'fault',
    });
    return run;
  } finally {
    await runtime.close();
  }
}

const phaseOf = async (runId: string) =>
  (await sql<{ phase: string }>`SELECT phase FROM runs WHERE id = ${runId}`.execute(db())).rows[0]?.phase;

async function versionCount(): Promise<number> {
  return (await sql<{ n: number }>`SELECT count(*)::int AS n FROM versions`.execute(db())).rows[0]?.n ?? 0;
}

/** A worker on the given Redis, and a run it has taken as far as scoring. */
async function scoringRun(redis: RedisServer) {
  const first = worker(redis);
  const run = await request(redis);
  await waitFor(
    async () => ((await phaseOf(run.id)) === 'scoring' ? true : undefined),
    60_000,
    `scoring\n${first.output()}`,
    10,
  );
  return { first, run };
}

describe('Redis failing under a refresh', () => {
  it('stopped while a run is scoring and started again with its data: the run publishes once', async () => {
    const redis = await redisServer(true);
    const before = await versionCount();
    const { run } = await scoringRun(redis);
    worker(redis);
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await redis.start();
    expect(await waitForRun(db(), run.id, 90_000)).toMatchObject({ state: 'succeeded' });
    expect(await versionCount()).toBe(before + 1);
    expect(await invariantViolations(db(), pool())).toEqual([]);
  });

  it('losing its data while a run is scoring: the reconciler enqueues the run again and it publishes once', async () => {
    const redis = await redisServer(false);
    const before = await versionCount();
    const { first, run } = await scoringRun(redis);
    await redis.kill();
    await redis.start();
    expect(await waitForRun(db(), run.id, 90_000)).toMatchObject({ state: 'succeeded' });
    expect(first.output()).toContain('with no job behind it');
    expect(await versionCount()).toBe(before + 1);
    expect(await invariantViolations(db(), pool())).toEqual([]);
  });

  it('losing its data while a run is queued: the reconciler enqueues it again once a worker is there', async () => {
    const redis = await redisServer(false);
    const run = await request(redis);
    await redis.kill();
    await redis.start();
    worker(redis);
    expect(await waitForRun(db(), run.id, 60_000)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(await invariantViolations(db(), pool())).toEqual([]);
  });
});
