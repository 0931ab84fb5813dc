import type { Command } from 'commander';
import { serveWorkerMetrics } from '../../../jobs/metrics.ts';
import { createQueue, refreshEnqueuer } from '../../../jobs/queue.ts';
import { createRedis } from '../../../jobs/redis.ts';
import { startScheduler } from '../../../jobs/scheduler.ts';
import { startWorker } from '../../../jobs/worker.ts';
import { startApi } from '../../api/start.ts';
import { getConfig } from '../../config.ts';
import { createDb, createPool } from '../../db/database.ts';
import { getLogger } from '../../logger.ts';
import type { CliContext } from '../context.ts';

/**
 * Resolves on the first SIGTERM or SIGINT (or when `abort` fires, for callers that drive the CLI
 * in-process): long-running commands then drain and return.
 */
export function untilStopped(abort?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      abort?.removeEventListener('abort', onAbort);
      resolve(signal);
    };
    const onAbort = () => stop('stop');
    abort?.addEventListener('abort', onAbort);
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
}

export function registerProcesses(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the HTTP API on PORT; SIGTERM stops accepting and finishes the requests in flight')
    .action(async () => {
      const config = getConfig();
      const logger = getLogger();
      const api = await startApi(config, logger);
      logger.info({ url: api.url, auth: config.auth }, 'API listening');
      ctx.print(`Almanac API listening on ${api.url}`);
      const signal = await untilStopped(ctx.io.stop);
      logger.info({ signal }, 'API draining');
      await api.close();
    });

  program
    .command('worker')
    .description('run the job worker (refreshes); SIGTERM lets the jobs in hand finish, then exits')
    .action(async () => {
      const config = getConfig();
      const logger = getLogger();
      // Listening first: a port in use fails the start before any job is taken.
      const metrics =
        config.workerMetricsPort === undefined
          ? undefined
          : await serveWorkerMetrics(config.workerMetricsPort);
      const db = createDb(config.databaseUrl, {
        max: config.workerConcurrency * 2 + 2,
        applicationName: 'almanac-worker',
      });
      const pool = createPool(config.databaseUrl, {
        max: config.workerConcurrency * 2 + 2,
        applicationName: 'almanac-worker',
      });
      try {
        if (metrics !== undefined) logger.info({ url: `${metrics.url}/metrics` }, 'worker metrics served');
        const worker = await startWorker({
          db,
          pool,
          databaseUrl: config.databaseUrl,
          redisUrl: config.redisUrl,
          prefix: config.redisPrefix,
          concurrency: config.workerConcurrency,
          logger,
          tuning: { lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs },
        });
        const signal = await untilStopped(ctx.io.stop);
        logger.info({ signal }, 'worker stopping: finishing the jobs in hand');
        await worker.close();
        logger.info('worker stopped');
      } finally {
        await metrics?.close();
        await db.destroy();
        await pool.end();
      }
    });

  program
    .command('scheduler')
    .description("run the scheduler: fires every model's cron and requests its slot (any number may run)")
    .action(async () => {
      const config = getConfig();
      const logger = getLogger();
      const db = createDb(config.databaseUrl, { max: 2, applicationName: 'almanac-scheduler' });
      const redis = createRedis(config.redisUrl, config.redisPrefix, 'scheduler');
      const queue = createQueue(redis, config.redisPrefix);
      try {
        await queue.waitUntilReady();
        const scheduler = await startScheduler({ db, enqueue: refreshEnqueuer(queue, redis), logger });
        const signal = await untilStopped(ctx.io.stop);
        logger.info({ signal }, 'scheduler stopping');
        await scheduler.close();
      } finally {
        await queue.close();
        redis.disconnect();
        await db.destroy();
      }
    });
}
