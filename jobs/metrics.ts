import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import { listen, type RunningServer } from '../src/api/server.ts';
import { gateRegistry } from '../src/drift/alerts.ts';

/** The worker's Prometheus metrics: its jobs, the drift gate's counters, and the process. */
export const workerRegistry = new Registry();
let collectingProcessMetrics = false;

export const jobsFinished = new Counter({
  name: 'almanac_jobs_total',
  help: 'Jobs this worker finished, by job name and outcome (completed, or failed for one attempt)',
  labelNames: ['name', 'outcome'] as const,
  registers: [workerRegistry],
});

/** Serves `GET /metrics` on its own port (`ALMANAC_WORKER_METRICS_PORT`): a worker has no API. */
export function serveWorkerMetrics(port: number, host = '0.0.0.0'): Promise<RunningServer> {
  // only in a process that serves them: every CLI command loads this module
  if (!collectingProcessMetrics) {
    collectDefaultMetrics({ register: workerRegistry, prefix: 'almanac_worker_' });
    collectingProcessMetrics = true;
  }
  return listen(
    (req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
        return;
      }
      Promise.all([workerRegistry.metrics(), gateRegistry.metrics()]).then(
        ([own, gate]) =>
          res.writeHead(200, { 'content-type': workerRegistry.contentType }).end(`${own}${gate}`),
        () => res.writeHead(500).end(),
      );
    },
    port,
    host,
  );
}
