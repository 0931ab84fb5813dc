import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { listen, type RunningServer } from '../src/api/server.ts';
import { gateRegistry } from '../src/drift/alerts.ts';

/**
 * The metrics of the processes that have no API: the worker (its jobs, the drift gate's counters)
 * and the scheduler (each model's next run). Each serves `GET /metrics` and `GET /healthz` on a
 * port of its own when one is configured.
 */
export const workerRegistry = new Registry();
export const schedulerRegistry = new Registry();

export const jobsFinished = new Counter({
  name: 'almanac_jobs_total',
  help: 'Jobs this worker finished, by job name and outcome (completed, or failed for one attempt)',
  labelNames: ['name', 'outcome'] as const,
  registers: [workerRegistry],
});

export const runsReconciled = new Counter({
  name: 'almanac_runs_reconciled_total',
  help: 'Unfinished runs the reconciler found without a live job, by what it did (enqueued again, or closed because their job had failed)',
  labelNames: ['action'] as const,
  registers: [workerRegistry],
});

/** Where the scheduler's gauge reads each model's next tick; set by the running scheduler. */
let nextRuns: () => ReadonlyMap<string, Date> = () => new Map();

export function reportNextRuns(source: () => ReadonlyMap<string, Date>): void {
  nextRuns = source;
}

new Gauge({
  name: 'almanac_scheduler_next_run_timestamp_seconds',
  help: "When each scheduled model's cron fires next (Unix time)",
  labelNames: ['model'] as const,
  registers: [schedulerRegistry],
  collect() {
    this.reset();
    for (const [model, at] of nextRuns()) this.set({ model }, at.getTime() / 1000);
  },
});

const processMetrics = new WeakSet<Registry>();

/**
 * Serves the registries' metrics (and the process's own) on `GET /metrics`, and `GET /healthz`
 * (200 while the process runs, which is what a container's health check asks).
 */
export function serveMetrics(
  registries: readonly Registry[],
  options: { port: number; host: string; prefix: string; idleTimeoutMs: number },
): Promise<RunningServer> {
  const [own] = registries;
  // the process's own figures only in a process that serves them: every CLI command loads this module
  if (own !== undefined && !processMetrics.has(own)) {
    collectDefaultMetrics({ register: own, prefix: options.prefix });
    processMetrics.add(own);
  }
  return listen(
    (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      if (req.method !== 'GET' || path !== '/metrics') {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('only GET /metrics and GET /healthz are served here\n');
        return;
      }
      Promise.all(registries.map((registry) => registry.metrics())).then(
        (texts) => res.writeHead(200, { 'content-type': workerRegistry.contentType }).end(texts.join('')),
        () => res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
      );
    },
    options.port,
    options.host,
    { idleTimeoutMs: options.idleTimeoutMs },
  );
}

export const workerMetrics = [workerRegistry, gateRegistry] as const;
