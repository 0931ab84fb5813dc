import { type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { AlertOptions } from '../src/drift/alerts.ts';
import { abandonRun } from '../src/pipeline/abandon.ts';
import { closeScoringThreads } from '../src/pipeline/score-in-thread.ts';
import { sweepSpillFiles } from '../src/pipeline/spill-file.ts';
import type { Runtime } from '../src/runtime.ts';
import { jobsFinished } from './metrics.ts';
import { startAlertDelivery } from './outbox.ts';
import { evaluateJobId, evaluateProcessor } from './processors/evaluate.ts';
import { refreshProcessor, shardProcessor } from './processors/refresh.ts';
import { type JobName, type JobPayload, jobPayloads, QUEUE_NAME } from './queue.ts';
import { startReconciler } from './reconciler.ts';

export type WorkerOptionsOf = {
  /** jobs at once (default: the config's ALMANAC_WORKER_CONCURRENCY) */
  concurrency?: number;
  /** the runtime's logger unless given (the demo quietens its worker) */
  logger?: Logger;
  /** BullMQ tuning (default: lock and stalled interval from ALMANAC_JOB_LOCK_MS); tests shorten them */
  tuning?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'>;
  /** alert delivery's retries and timeout (default: src/drift/alerts.ts); tests shorten them */
  alerts?: AlertOptions;
};

/** How often a worker delivers the outbox's due alerts (jobs/outbox.ts). */
const ALERT_DELIVERY_MS = 1_000;

/**
 * How often a worker looks for jobs whose lock has expired. BullMQ moves a job back to waiting at
 * the first check that finds it without its lock, so a dead worker's job moves on within its lock
 * time plus one interval: a quarter of the lock, at most 5 s (with the interval equal to the lock,
 * a killed worker's job waited about twice the lock). Each check is one short Lua script.
 */
export function stalledCheckInterval(lockMs: number): number {
  return Math.max(250, Math.min(5_000, Math.round(lockMs / 4)));
}

export type RunningWorker = { worker: Worker<JobPayload, unknown, JobName>; close: () => Promise<void> };

/**
 * BullMQ's worker, with a way out of a close that waits for good. BullMQ ends its connections by
 * waiting for ioredis's `end` event, and ioredis emits none when told to disconnect while it waits
 * to reconnect (Redis down, or restarted and not reconnected to yet): it only drops its retry
 * timer. A SIGTERM at such a moment left close() pending for good, and disconnect() too, while the
 * lock renewal timer and the other connections held the process (taskforcesh/bullmq#4656; the
 * ioredis side: redis/ioredis#1247).
 */
class AlmanacWorker extends Worker<JobPayload, unknown, JobName> {
  /** Stops renewing locks and drops both connections, waiting on no reply or event of Redis. */
  async abandon(): Promise<void> {
    await this.lockManager.close();
    const backend = this.getBackend();
    // started: both connections are initialised, these promises settled
    for (const client of await Promise.all([backend.client, backend.blockingClient])) client?.disconnect();
  }
}

/** A BullMQ worker for every Almanac job; `close()` lets the jobs in hand finish first. */
export async function startWorker(runtime: Runtime, options: WorkerOptionsOf = {}): Promise<RunningWorker> {
  const { config, db, pool } = runtime;
  const logger = options.logger ?? runtime.logger;
  const concurrency = options.concurrency ?? config.workerConcurrency;
  const tuning = options.tuning ?? {
    lockDuration: config.jobLockMs,
    stalledInterval: stalledCheckInterval(config.jobLockMs),
  };
  // The worker's own connection blocks while it waits for jobs: follow-up jobs go through the
  // runtime's producer.
  const connection = runtime.redis('worker');
  const followUps = runtime.producer();
  const lockDurationMs = tuning.lockDuration ?? 30_000;
  const refreshDeps = {
    db,
    pool,
    databaseUrl: config.databaseUrl,
    logger,
    ...(options.alerts && { alerts: options.alerts }),
  };
  const refresh = refreshProcessor(refreshDeps, lockDurationMs, followUps.queue);
  const refreshShard = shardProcessor(refreshDeps, lockDurationMs);
  const evaluate = evaluateProcessor({ db, logger });
  // processors running now: a closing worker waits for them, however long a refresh takes
  let processing = 0;
  let idle: (() => void) | undefined;
  const worker = new AlmanacWorker(
    QUEUE_NAME,
    async (job, token) => {
      processing += 1;
      try {
        return await process(job, token);
      } finally {
        processing -= 1;
        if (processing === 0) idle?.();
      }
    },
    {
      connection,
      prefix: config.redisPrefix,
      concurrency,
      maxStalledCount: 2,
      ...tuning,
    },
  );
  async function process(job: Job<JobPayload, unknown, JobName>, token: string | undefined) {
    switch (job.name) {
      case 'refresh': {
        const outcome = await refresh(job as Job<JobPayload<'refresh'>>, token);
        const { model, slot } = job.data as JobPayload<'refresh'>;
        // Actuals arrive with the source data that each refresh reads: measure the versions
        // again. A lost follow-up only delays the figures until the next refresh or by-hand run.
        await followUps
          .add('evaluate', { model }, evaluateJobId(model, slot))
          .catch((error: unknown) => logger.warn({ err: error, model }, 'could not queue the evaluate job'));
        return outcome;
      }
      case 'refresh-shard':
        return refreshShard(job as Job<JobPayload<'refresh-shard'>>, token);
      case 'evaluate':
        return evaluate(job as Job<JobPayload<'evaluate'>>);
      default:
        throw new Error(`no processor for job "${String(job.name)}"`);
    }
  }
  const cleanups = new Set<Promise<unknown>>();
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  worker.on('completed', (job) => jobsFinished.inc({ name: job.name, outcome: 'completed' }));
  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    jobsFinished.inc({ name: job.name, outcome: 'failed' });
    const final =
      error instanceof UnrecoverableError ||
      job.finishedOn !== undefined ||
      job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, attemptsMade: job.attemptsMade, final, err: error }, 'job failed');
    const payload = jobPayloads.refresh.safeParse(job.data);
    if (job.name !== 'refresh' || !payload.success) return;
    // When the processor itself failed for good it has closed the run; this catches the jobs
    // BullMQ failed without running the processor (one that stalled too often fails with an
    // UnrecoverableError the next time a worker takes it).
    if (final) {
      const cleanup = abandonRun(db, config.databaseUrl, payload.data.runId, `job failed: ${error.message}`)
        .catch((failure: unknown) =>
          logger.error({ err: failure, runId: payload.data.runId }, 'could not close an abandoned run'),
        )
        .finally(() => cleanups.delete(cleanup));
      cleanups.add(cleanup);
    }
  });
  await worker.waitUntilReady();
  const reconciler = startReconciler({
    db,
    databaseUrl: config.databaseUrl,
    producer: followUps,
    logger,
    everyMs: config.reconcileMs,
  });
  const alertDelivery = startAlertDelivery({
    db,
    logger,
    everyMs: ALERT_DELIVERY_MS,
    alerts: options.alerts,
  });
  const swept = await sweepSpillFiles().catch(() => 0);
  if (swept > 0) logger.info({ swept }, 'removed spill files of runs that were killed');
  logger.info({ queue: QUEUE_NAME, prefix: config.redisPrefix, concurrency }, 'worker started');
  return {
    worker,
    close: async () => {
      await reconciler.close();
      await alertDelivery.close();
      // BullMQ's close waits for the jobs in hand, for Redis to take their outcome, and for its
      // connections to end, which one waiting to reconnect never does (AlmanacWorker above). Once
      // no job is in hand any more, it gets 5 s: a job whose outcome Redis did not take is handed
      // back when its lock expires.
      const closing = worker.close().then(() => true);
      const handedBack = new Promise<boolean>((resolve) => {
        const grace = () => setTimeout(() => resolve(false), 5_000).unref();
        if (processing === 0) grace();
        else idle = grace;
      });
      if (!(await Promise.race([closing, handedBack]))) {
        logger.warn('the worker did not close within 5 s of its last job (Redis?); leaving it to the lock');
        await worker.abandon();
      }
      await Promise.all(cleanups);
      await closeScoringThreads();
    },
  };
}
