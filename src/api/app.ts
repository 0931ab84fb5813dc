import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import rateLimit, { ipKeyGenerator, type MemoryStore } from 'express-rate-limit';
import helmet from 'helmet';
import type pg from 'pg';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Db } from '../db/database.ts';
import { authenticate, type KeyVerifier } from './auth.ts';
import type { Catalog } from './catalog.ts';
import type { EstimateCache } from './estimate-cache.ts';
import type { Metrics } from './metrics.ts';
import { problemHandler, sendProblem, tooManyRequests } from './problem.ts';
import { ReportCache } from './report-cache.ts';
import { driftRouter } from './routes/drift.ts';
import { estimatesRouter } from './routes/estimates.ts';
import { healthRouter } from './routes/health.ts';
import { modelsRouter } from './routes/models.ts';
import { type QueueAccess, runsRouter } from './routes/runs.ts';
import { snapshotsRouter } from './routes/snapshots.ts';
import { versionsRouter } from './routes/versions.ts';

export type AppDeps = {
  db: Db;
  verifier: KeyVerifier;
  cache: EstimateCache;
  pool: pg.Pool;
  catalog: Catalog;
  queue: QueueAccess;
  redisPing: () => Promise<unknown>;
  metrics: Metrics;
  logger: Logger;
  auth: boolean;
  /** requests per minute per key; 0 turns limiting off */
  rateLimitPerMinute: number;
  /** the rate limiter's counts, shared with the lookup fast path */
  rateLimitStore: MemoryStore;
  maxImportBytes: number;
};

/** The HTTP API as an Express app, without listening: tests and `almanac serve` both use it. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // estimate ETags are computed from the version, not hashed bodies
  app.set('query parser', 'simple');
  // A JSON API needs the transport and sniffing protections, not a page's (CSP and friends): every
  // header costs bytes on every lookup. The dashboard's pages will add their own CSP.
  app.use(
    helmet({
      contentSecurityPolicy: false,
      crossOriginOpenerPolicy: false,
      originAgentCluster: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
    }),
  );
  const httpLogger = pinoHttp({
    logger: deps.logger,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, error) =>
      error !== undefined || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
  });
  // Single lookups are the bulk of the traffic and are counted in the metrics; logging each would
  // cost more than answering it. Everything else gets a request id and a log line.
  app.use((req, res, next) => {
    if (req.method === 'GET' && req.path.includes('/estimates/')) next();
    else httpLogger(req, res, next);
  });
  app.use((req, res, next) => {
    const stop = deps.metrics.requestDuration.startTimer({ method: req.method });
    res.on('finish', () => {
      const route =
        (req.route as { path?: string } | undefined)?.path ??
        (res.statusCode === 404 ? 'unmatched' : req.path);
      stop({ route, status: String(res.statusCode) });
    });
    next();
  });
  app.use(express.json({ limit: '4mb', type: 'application/json' }));

  app.use(healthRouter({ db: deps.db, metrics: deps.metrics, redisPing: deps.redisPing }));

  app.use('/v1', authenticate(deps.verifier, { enabled: deps.auth }));
  if (deps.rateLimitPerMinute > 0) {
    app.use(
      '/v1',
      rateLimit({
        windowMs: 60_000,
        limit: deps.rateLimitPerMinute,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        store: deps.rateLimitStore,
        keyGenerator: (req) => req.caller?.actor ?? ipKeyGenerator(req.ip ?? ''),
        handler: (req, res) => {
          const limited = tooManyRequests(
            deps.rateLimitPerMinute,
            (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime,
          );
          res.set('Retry-After', limited.retryAfter);
          sendProblem(res, 429, limited.detail);
        },
      }),
    );
  }

  app.use(
    estimatesRouter({ pool: deps.pool, catalog: deps.catalog, cache: deps.cache, metrics: deps.metrics }),
  );
  app.use(modelsRouter({ db: deps.db, catalog: deps.catalog }));
  app.use(
    versionsRouter({
      db: deps.db,
      pool: deps.pool,
      catalog: deps.catalog,
      maxImportBytes: deps.maxImportBytes,
    }),
  );
  app.use(runsRouter({ db: deps.db, queue: deps.queue }));
  app.use(snapshotsRouter({ pool: deps.pool, catalog: deps.catalog, metrics: deps.metrics }));
  app.use(driftRouter({ db: deps.db, pool: deps.pool, reports: new ReportCache() }));

  app.use((req, res) => {
    sendProblem(res, 404, `no such endpoint: ${req.method} ${req.path}`);
  });
  app.use(problemHandler(deps.logger));
  return app;
}
