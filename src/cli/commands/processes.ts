import type { Command } from 'commander';
import { reportNextRuns, schedulerRegistry, serveMetrics, workerMetrics } from '../../../jobs/metrics.ts';
import { startScheduler } from '../../../jobs/scheduler.ts';
import { startWorker } from '../../../jobs/worker.ts';
import { startApi } from '../../api/start.ts';
import { connectedProducer, type Role, type Runtime } from '../../runtime.ts';
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

/**
 * A long-running process: opens the runtime in its role, starts the parts (each returns how to
 * stop it), waits for a signal, then stops the parts in reverse order; the runtime's connections
 * close when the command ends. A part that fails to start stops the ones started before it.
 */
export async function runProcess(
  ctx: CliContext,
  role: Role,
  parts: ((runtime: Runtime) => Promise<() => Promise<void>>)[],
): Promise<void> {
  const runtime = ctx.runtime(role);
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const start of parts) stops.unshift(await start(runtime));
    const signal = await untilStopped(ctx.io.stop);
    runtime.logger.info({ signal }, `${role} stopping`);
  } finally {
    for (const stop of stops) await stop();
  }
}

/** The worker's or scheduler's `/metrics` and `/healthz`, when its port is configured. */
const metricsPart =
  (
    port: (runtime: Runtime) => number | undefined,
    registries: Parameters<typeof serveMetrics>[0],
    prefix: string,
  ) =>
  async (runtime: Runtime) => {
    const chosen = port(runtime);
    if (chosen === undefined) return async () => {};
    const served = await serveMetrics(registries, {
      port: chosen,
      host: runtime.config.host,
      prefix,
      idleTimeoutMs: runtime.config.httpIdleTimeoutMs,
    });
    runtime.logger.info({ url: `${served.url}/metrics` }, 'metrics served');
    return served.close;
  };

export function registerProcesses(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the HTTP API on HOST:PORT; SIGTERM stops accepting and finishes the requests in flight')
    .action(() =>
      runProcess(ctx, 'api', [
        async (runtime) => {
          const api = await startApi(runtime);
          runtime.logger.info({ url: api.url, auth: runtime.config.auth }, 'API listening');
          ctx.print(`Almanac API listening on ${api.url} (reference: ${api.url}/docs)`);
          return api.close;
        },
      ]),
    );

  program
    .command('worker')
    .description('run the job worker (refreshes); SIGTERM lets the jobs in hand finish, then exits')
    .action(() =>
      runProcess(ctx, 'worker', [
        // listening first: a port in use fails the start before any job is taken
        metricsPart((runtime) => runtime.config.workerMetricsPort, workerMetrics, 'almanac_worker_'),
        async (runtime) => {
          const worker = await startWorker(runtime);
          return async () => {
            runtime.logger.info('worker stopping: finishing the jobs in hand');
            await worker.close();
            runtime.logger.info('worker stopped');
          };
        },
      ]),
    );

  program
    .command('scheduler')
    .description("run the scheduler: fires every model's cron and requests its slot (any number may run)")
    .action(() =>
      runProcess(ctx, 'scheduler', [
        metricsPart(
          (runtime) => runtime.config.schedulerMetricsPort,
          [schedulerRegistry],
          'almanac_scheduler_',
        ),
        async (runtime) => {
          // catch-up requests slots at once: Redis must answer first (one line when it does not)
          const producer = await connectedProducer(runtime);
          const scheduler = await startScheduler({
            db: runtime.db,
            enqueue: producer.enqueueRefresh,
            logger: runtime.logger,
          });
          reportNextRuns(scheduler.nextRuns);
          return scheduler.close;
        },
      ]),
    );
}
