import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { startWorker, type WorkerOptionsOf } from '../../jobs/worker.ts';
import type { Db } from '../../src/db/database.ts';
import { upsertModel } from '../../src/db/models.ts';
import { findRun, type Run } from '../../src/db/runs.ts';
import { validateSpec } from '../../src/model/validate-spec.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import { testRuntime } from './runtime.ts';

export { silentLogger } from './runtime.ts';

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

export type Pipeline = Awaited<ReturnType<typeof startPipeline>>;

/**
 * The queue's producer on a Redis prefix and, unless `worker: false`, an in-process worker on it
 * (with its own runtime, as a worker process has), closed together.
 */
export async function startPipeline(
  databaseUrl: string,
  prefix: string,
  options: {
    worker?: boolean;
    tuning?: WorkerOptionsOf['tuning'];
    logger?: Logger;
    /** the worker's environment beyond the test defaults (ALMANAC_RECONCILE_MS, say) */
    workerEnv?: Record<string, string>;
  } = {},
) {
  const producerSide = testRuntime(databaseUrl, prefix, 'cli', {}, options.logger);
  const workerSide =
    options.worker === false
      ? undefined
      : testRuntime(databaseUrl, prefix, 'worker', options.workerEnv, options.logger);
  const running =
    workerSide === undefined
      ? undefined
      : await startWorker(workerSide, {
          concurrency: 2,
          ...(options.tuning === undefined ? {} : { tuning: options.tuning }),
        });
  const producer = producerSide.producer();
  await producer.queue.waitUntilReady();
  const { db } = producerSide;
  return {
    db,
    pool: producerSide.pool,
    queue: producer.queue,
    enqueue: producer.enqueueRefresh,
    worker: running?.worker,
    /** requests a manual run of `model` (or its `slot`) and waits for it to finish */
    refresh: async (model: string, slot?: string) => {
      const { run } = await requestRefresh(db, producer.enqueueRefresh, {
        model,
        trigger: 'test',
        ...(slot === undefined ? {} : { slot }),
      });
      return waitForRun(db, run.id);
    },
    close: async () => {
      await running?.close();
      await workerSide?.close();
      await producerSide.close();
    },
  };
}

/**
 * Publishes a version of `model` with a worker of its own (on a Redis prefix of its own), for
 * tests whose readers need a version served throughout.
 */
export async function publishFirst(databaseUrl: string, model: string): Promise<void> {
  const pipeline = await startPipeline(databaseUrl, 'almanac-test-first-publish');
  try {
    const run = await pipeline.refresh(model);
    if (run.state !== 'succeeded') throw new Error(`the first refresh of ${model} failed: ${run.error}`);
  } finally {
    await pipeline.close();
  }
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

/**
 * Tables of estimates (a version's `estimates_v<id>`, a shard's `estimates_v<id>_s<i>`) that are
 * attached to nothing: what a run that ended, however it ended, must not leave behind.
 */
export async function strayTables(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_class c
    WHERE c.relname LIKE 'estimates\\_v%' AND c.relkind IN ('r', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)`.execute(db);
  return rows.map((row) => row.name);
}
