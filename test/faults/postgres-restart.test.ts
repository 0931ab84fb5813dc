import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import type { Runtime } from '../../src/runtime.ts';
import { useCleanups, useMarket, useRedisPrefix } from '../helpers/hooks.ts';
import { invariantViolations } from '../helpers/invariants.ts';
import { usePgCluster } from '../helpers/pg-cluster.ts';
import { applySpec, demoSpec, lenientDrift, startPipeline, waitForRun } from '../helpers/pipeline.ts';
import { testRuntime } from '../helpers/runtime.ts';
import { spawnWorker, waitFor } from '../helpers/worker-process.ts';

/** Postgres itself going away under a running refresh: a cluster of the test's own, never the machine's. */
const cluster = usePgCluster('fault-restart');
const prefix = useRedisPrefix();
let runtime: Runtime;
const cleanups = useCleanups();
const url = () => cluster().primary.url('almanac');

beforeAll(async () => {
  await cluster().primary.query('CREATE DATABASE almanac');
  runtime = testRuntime(url(), 'almanac-test-postgres-only', 'cli');
  await migrateToLatest(runtime.db);
});
useMarket({ pool: () => runtime.pool }, { keys: 150_000, days: 3, seed: 41, start: '2026-03-01' });
beforeAll(async () => {
  await applySpec(runtime.db, demoSpec({ trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift }));
}, 120_000);
afterAll(async () => {
  await runtime?.close();
});

describe('Postgres restarted under a refresh', () => {
  it.each(['fast', 'immediate'] as const)(
    'stopped (%s) while a run is scoring and started again: the run publishes once, by itself',
    async (mode) => {
      const worker = spawnWorker({ DATABASE_URL: url(), ALMANAC_REDIS_PREFIX: prefix.current });
      cleanups.push(() => worker.stop('SIGKILL'));
      const producer = await startPipeline(url(), prefix.current, { worker: false });
      cleanups.push(producer.close);
      const { run } = await requestRefresh(runtime.db, producer.enqueue, {
        model: 'prices',
        trigger: 'fault',
      });
      await waitFor(
        async () => {
          const { rows } = await sql<{ phase: string }>`SELECT phase FROM runs WHERE id = ${run.id}`.execute(
            runtime.db,
          );
          return rows[0]?.phase === 'scoring' ? true : undefined;
        },
        60_000,
        `scoring\n${worker.output()}`,
        10,
      );
      await cluster().primary.stop(mode);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await cluster().primary.start();
      const finished = await waitForRun(runtime.db, run.id, 120_000).catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}\n${worker.output()}`);
      });
      expect(finished.state).toBe('succeeded');
      expect(finished.attempts).toBeGreaterThanOrEqual(2);
      expect(await invariantViolations(runtime.db, runtime.pool)).toEqual([]);
      // the worker lived through it, and takes the next run as usual
      expect(worker.child.exitCode).toBeNull();
      const { run: next } = await requestRefresh(runtime.db, producer.enqueue, {
        model: 'prices',
        trigger: 'fault',
      });
      expect(await waitForRun(runtime.db, next.id, 60_000)).toMatchObject({
        state: 'succeeded',
        attempts: 1,
      });
    },
  );
});
