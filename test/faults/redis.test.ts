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

/** Once the worker has started: its SIGTERM handler is on (before, a signal ends it as Node's default does). */
async function started(running: RunningBin) {
  await waitFor(
    async () => (running.output().includes('worker started') ? true : undefined),
    30_000,
    `the worker to start\n${running.output()}`,
  );
}

/** Once a worker's blocking connection is on the given Redis (BullMQ names it: CLIENT LIST). */
async function workerConnected(redis: RedisServer, running: RunningBin) {
  const runtime = testRuntime(database.url, prefix, 'cli', { REDIS_URL: redis.url });
  try {
    const producer = await connectedProducer(runtime, 10_000);
    await waitFor(
      async () => ((await producer.queue.getWorkersCount().catch(() => 0)) > 0 ? true : undefined),
      30_000,
      `the worker's connection\n${running.output()}`,
      50,
    );
  } finally {
    await runtime.close();
  }
}

const refusals = (running: RunningBin) => running.output().split('ECONNREFUSED').length - 1;

/**
 * Once the worker's connections were refused by the stopped Redis since `before` refusals: ioredis
 * then waits to try again, the state in which BullMQ's close used to wait for good.
 */
async function waitingToReconnect(running: RunningBin, before: number) {
  await waitFor(
    async () => (refusals(running) > before ? true : undefined),
    30_000,
    `the worker to find Redis gone\n${running.output()}`,
  );
}

/** The process's exit code, or 'still running' when it has not ended within `ms`. */
async function exitWithin(running: RunningBin, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  try {
    return await Promise.race([running.exited, bound]);
  } finally {
    clearTimeout(timer);
  }
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

  it('losing its data while a run is scoring: the run publishes once, by its attempt or the reconciler', async () => {
    const redis = await redisServer(false);
    const before = await versionCount();
    const { run } = await scoringRun(redis);
    await redis.kill();
    await redis.start();
    // Which finishes it is a race: an attempt a few hundred milliseconds from its end publishes
    // before the reconciler's pass finds its job gone, a slower one is taken over (the queued
    // case below checks the reconciler alone). Either way: one version, nothing half-written.
    expect(await waitForRun(db(), run.id, 90_000)).toMatchObject({ state: 'succeeded' });
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

describe('a worker stopped around a Redis restart', () => {
  for (const persist of [true, false]) {
    it(`Redis restarted ${persist ? 'with' : 'without'} its data: SIGTERM ends the worker with 0, whether it is back on Redis or still waiting to reconnect`, async () => {
      const redis = await redisServer(persist);
      // Back on Redis, a stop never hung here; one while ioredis waited to reconnect always did
      // (BullMQ waited for an `end` event that never came: jobs/worker.ts, AlmanacWorker).
      for (const when of ['back', 'back', 'waiting to reconnect'] as const) {
        const running = worker(redis);
        await started(running);
        await workerConnected(redis, running);
        const before = refusals(running);
        await redis.kill();
        if (when === 'back') {
          await redis.start();
          await workerConnected(redis, running);
          running.child.kill('SIGTERM');
        } else {
          await waitingToReconnect(running, before);
          running.child.kill('SIGTERM');
          await redis.start();
        }
        // a bound on the outcome, not a speed target: a stuck close gets 5 s, then its connections go
        expect({ when, exit: await exitWithin(running, 15_000) }, running.output()).toEqual({
          when,
          exit: 0,
        });
      }
      expect(await invariantViolations(db(), pool())).toEqual([]);
    });
  }

  it('SIGTERM under a scoring run while Redis is down: the worker finishes the run and exits with 0; it publishes once', async () => {
    const redis = await redisServer(true);
    const before = await versionCount();
    const { first, run } = await scoringRun(redis);
    const refused = refusals(first);
    await redis.kill();
    await waitingToReconnect(first, refused);
    first.child.kill('SIGTERM');
    await redis.start();
    // the run in hand ends first, however long its scoring takes here
    expect(await exitWithin(first, 90_000), first.output()).toBe(0);
    // had Redis not taken the job's outcome, its lock hands it to the next worker
    worker(redis);
    expect(await waitForRun(db(), run.id, 90_000)).toMatchObject({ state: 'succeeded' });
    expect(await versionCount()).toBe(before + 1);
    expect(await invariantViolations(db(), pool())).toEqual([]);
  });
});
