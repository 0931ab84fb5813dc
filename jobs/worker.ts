import { type Job, Worker, type WorkerOptions } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../src/db/database.ts';
import { abandonRun } from '../src/pipeline/abandon.ts';
import { sweepSpillFiles } from '../src/pipeline/spill-file.ts';
import { jobsFinished } from './metrics.ts';
import { evaluateJobId, evaluateProcessor } from './processors/evaluate.ts';
import { refreshProcessor } from './processors/refresh.ts';
import { addWithin, createQueue, type JobName, type JobPayload, jobPayloads, QUEUE_NAME } from './queue.ts';
import { createRedis } from './redis.ts';

export type WorkerDeps = {
  db: Db;
  pool: pg.Pool;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  concurrency: number;
  logger: Logger;
  /** BullMQ tuning (lock duration, stalled interval); tests shorten them */
  tuning?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'>;
};

export type RunningWorker = { worker: Worker<JobPayload, unknown, JobName>; close: () => Promise<void> };

/** A BullMQ worker for every Almanac job; `close()` lets the jobs in hand finish first. */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { logger } = deps;
  const connection = createRedis(deps.redisUrl, deps.prefix, 'worker');
  // The worker's own connection blocks while it waits for jobs: follow-up jobs go through another.
  const producer = createRedis(deps.redisUrl, deps.prefix, 'worker-producer');
  const followUps = createQueue(producer, deps.prefix);
  const lockDurationMs = deps.tuning?.lockDuration ?? 30_000;
  const refresh = refreshProcessor(
    { db: deps.db, pool: deps.pool, databaseUrl: deps.databaseUrl, logger },
    lockDurationMs,
  );
  const evaluate = evaluateProcessor({ db: deps.db, logger });
  const worker = new Worker<JobPayload, unknown, JobName>(
    QUEUE_NAME,
    async (job, token) => {
      switch (job.name) {
        case 'refresh': {
          const outcome = await refresh(job as Job<JobPayload<'refresh'>>, token);
          const { model, slot } = job.data as JobPayload<'refresh'>;
          // Actuals arrive with the source data that each refresh reads: measure the versions
          // again. A lost follow-up only delays the figures until the next refresh or by-hand run.
          await addWithin(followUps, producer, 'evaluate', { model }, evaluateJobId(model, slot)).catch(
            (error: unknown) => logger.warn({ err: error, model }, 'could not queue the evaluate job'),
          );
          return outcome;
        }
        case 'evaluate':
          return evaluate(job as Job<JobPayload<'evaluate'>>);
        default:
          throw new Error(`no processor for job "${String(job.name)}"`);
      }
    },
    {
      connection,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
      maxStalledCount: 2,
      ...deps.tuning,
    },
  );
  const cleanups = new Set<Promise<unknown>>();
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  worker.on('completed', (job) => jobsFinished.inc({ name: job.name, outcome: 'completed' }));
  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    jobsFinished.inc({ name: job.name, outcome: 'failed' });
    const final =
      error.name === 'UnrecoverableError' ||
      job.finishedOn !== undefined ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, attemptsMade: job.attemptsMade, final, err: error }, 'job failed');
    const payload = jobPayloads.refresh.safeParse(job.data);
    if (job.name !== 'refresh' || !payload.success) return;
    // When the processor itself failed for good it has closed the run; this catches the jobs
    // BullMQ failed without running the processor (stalled too many times).
    if (final || /stalled/i.test(error.message)) {
      const cleanup = abandonRun(
        deps.db,
        deps.databaseUrl,
        payload.data.runId,
        `job failed: ${error.message}`,
      )
        .catch((failure: unknown) =>
          logger.error({ err: failure, runId: payload.data.runId }, 'could not close an abandoned run'),
        )
        .finally(() => cleanups.delete(cleanup));
      cleanups.add(cleanup);
    }
  });
  await worker.waitUntilReady();
  const swept = await sweepSpillFiles().catch(() => 0);
  if (swept > 0) logger.info({ swept }, 'removed spill files of runs that were killed');
  logger.info({ queue: QUEUE_NAME, prefix: deps.prefix, concurrency: deps.concurrency }, 'worker started');
  return {
    worker,
    close: async () => {
      await worker.close();
      await Promise.all(cleanups);
      await followUps.close();
      producer.disconnect();
      connection.disconnect();
    },
  };
}
