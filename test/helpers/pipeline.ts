import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createQueue, refreshEnqueuer } from '../../jobs/queue.ts';
import { createRedis } from '../../jobs/redis.ts';
import { startWorker, type WorkerDeps } from '../../jobs/worker.ts';
import { createDb, createPool, type Db } from '../../src/db/database.ts';
import { upsertModel } from '../../src/db/models.ts';
import { findRun, type Run } from '../../src/db/runs.ts';
import { validateSpec } from '../../src/model/validate-spec.ts';
import type { EnqueueRefresh } from '../../src/runs/request.ts';
import { REDIS_URL } from './services.ts';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const demoModel = JSON.parse(
  readFileSync(new URL('../../seeds/models/nasdaq-close.json', import.meta.url), 'utf8'),
) as {
  params: unknown;
  source: { table: string; key: string; time: string; target: string; features: string[] };
};

/** The demo ridge spec over the demo market, named `prices`, with a short window. */
export function demoSpec(overrides: Record<string, unknown> = {}) {
  return {
    name: 'prices',
    estimator: 'ridge',
    params: demoModel.params,
    source: demoModel.source,
    trainWindowDays: 20,
    holdoutDays: 3,
    ...overrides,
  };
}

/** A drift policy that only `maxRemovedShare` and `minRows` can trip: for tests about something else. */
export const lenientDrift = { maxPsi: 1e6, maxKs: 1, maxWassersteinNorm: 1e6, maxChangedShare: 1 };

export async function applySpec(db: Db, spec: unknown): Promise<void> {
  await upsertModel(db, await validateSpec(db, spec));
}

/** An in-process worker plus a producer on one Redis prefix, closed together. */
export async function startPipeline(databaseUrl: string, prefix: string, tuning?: WorkerDeps['tuning']) {
  const db = createDb(databaseUrl, { max: 4, applicationName: 'almanac-test-worker' });
  const pool = createPool(databaseUrl, { max: 4, applicationName: 'almanac-test-worker' });
  const running = await startWorker({
    db,
    pool,
    databaseUrl,
    redisUrl: REDIS_URL,
    prefix,
    concurrency: 2,
    logger: silentLogger,
    ...(tuning === undefined ? {} : { tuning }),
  });
  const producer = createRedis(REDIS_URL, prefix, 'producer');
  const queue = createQueue(producer, prefix);
  const enqueue: EnqueueRefresh = refreshEnqueuer(queue, producer);
  await queue.waitUntilReady();
  return {
    db,
    pool,
    queue,
    enqueue,
    worker: running.worker,
    close: async () => {
      await running.close();
      await queue.close();
      producer.disconnect();
      await db.destroy();
      await pool.end();
    },
  };
}

/** Polls a run until it is finished (succeeded or failed). */
export async function waitForRun(db: Db, runId: string, timeoutMs = 60_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await findRun(db, runId);
    if (run !== undefined && (run.state === 'succeeded' || run.state === 'failed')) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} did not finish in ${timeoutMs} ms: ${JSON.stringify(run)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
