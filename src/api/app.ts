import express, { type Express } from 'express';
import rateLimit, { ipKeyGenerator, type Store } from 'express-rate-limit';
import { pinoHttp } from 'pino-http';
import { HttpError } from '../errors.ts';
import { mountDashboard } from '../ui/dashboard.ts';
import type { Sessions } from '../ui/session.ts';
import { type AuthFailureLimit, authenticate, type KeyVerifier } from './auth.ts';
import { mountDocsAssets } from './docs.ts';
import { REQUEST_ID } from './headers.ts';
import { problemHandler, sendProblem, tooManyRequests } from './problem.ts';
import { requestIdOf } from './request-id.ts';
import { type ApiDeps, allowedMethods, mountRoutes } from './route.ts';
import { routes } from './routes.ts';
import { securityHeaders } from './security-headers.ts';

export type AppDeps = ApiDeps & {
  verifier: KeyVerifier;
  auth: boolean;
  /** the dashboard's sessions (src/ui/session.ts) */
  sessions: Sessions;
  /** Express's `trust proxy` (ALMANAC_TRUST_PROXY) */
  trustProxy: boolean | number | string;
  /** requests per minute per key; 0 turns limiting off */
  rateLimitPerMinute: number;
  /** the rate limiter's counts, shared with the lookup fast path (src/api/rate-limit-store.ts) */
  rateLimitStore: Store;
  /** failed authentications per client address; undefined: not limited */
  authFailureLimit?: AuthFailureLimit;
  /** the dashboard's sign-in attempts per address, when counted in Redis */
  loginAttemptStore?: Store;
};

/** The HTTP API as an Express app, without listening: tests and `almanac serve` both use it. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // estimate ETags are computed from the version, not hashed bodies
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxy);
  app.use(securityHeaders);
  const httpLogger = pinoHttp({
    logger: deps.logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req.headers[REQUEST_ID.toLowerCase()]);
      res.setHeader(REQUEST_ID, id);
      return id;
    },
    customLogLevel: (_req, res, error) =>
      error !== undefined || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
  });
  // Single lookups are the bulk of the traffic and are counted in the metrics; logging each would
  // cost more than answering it. Everything else gets a log line. All get a request id.
  app.use((req, res, next) => {
    if (req.method === 'GET' && req.path.includes('/estimates/')) {
      res.setHeader(REQUEST_ID, requestIdOf(req.headers[REQUEST_ID.toLowerCase()]));
      next();
    } else httpLogger(req, res, next);
  });
  app.use((req, res, next) => {
    const stop = deps.metrics.requestDuration.startTimer({ method: req.method });
    res.on('close', () => {
      const route =
        (req.route as { path?: string } | undefined)?.path ??
        (res.statusCode === 404 ? 'unmatched' : 'other');
      if (!res.writableFinished) deps.metrics.abortedRequests.inc({ method: req.method, route });
      else stop({ route, status: String(res.statusCode) });
    });
    next();
  });
  mountDocsAssets(app);

  app.use(
    '/v1',
    authenticate(deps.verifier, {
      enabled: deps.auth,
      ...(deps.authFailureLimit === undefined ? {} : { failureLimit: deps.authFailureLimit }),
      failed: (reason) => deps.metrics.authFailures.inc({ reason }),
    }),
  );
  // One limit per key, over /v1 and the dashboard (whose pages and /data name the session's key).
  const limit =
    deps.rateLimitPerMinute > 0
      ? rateLimit({
          windowMs: 60_000,
          limit: deps.rateLimitPerMinute,
          standardHeaders: 'draft-8',
          legacyHeaders: false,
          store: deps.rateLimitStore,
          // a store that fails (Redis down) limits nothing rather than refusing service
          passOnStoreError: true,
          logger: {
            error: (error, message) => deps.logger.warn({ err: error }, message ?? 'rate limit not counted'),
            warn: (error, message) => deps.logger.warn({ err: error }, message ?? 'rate limit'),
          },
          keyGenerator: (req) => req.caller?.actor ?? ipKeyGenerator(req.ip ?? ''),
          // through the error handler: a page's 429 is a page, the API's a problem document
          handler: (req, _res, next) => {
            const limited = tooManyRequests(
              deps.rateLimitPerMinute,
              (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime,
            );
            next(new HttpError(429, limited.detail, { headers: { 'Retry-After': limited.retryAfter } }));
          },
        })
      : undefined;
  if (limit !== undefined) app.use('/v1', limit);

  mountRoutes(app, routes, deps);
  mountDashboard(app, { ...deps, limit }, routes);

  const methodsAt = allowedMethods(routes);
  app.use((req, res) => {
    // a path that exists, asked with a method it does not take: 405 saying which it takes
    const allowed = methodsAt(req.path);
    if (allowed.length > 0) {
      res.set('Allow', allowed.join(', '));
      sendProblem(res, 405, `${req.method} is not allowed on ${req.path}; it takes ${allowed.join(', ')}`);
      return;
    }
    sendProblem(res, 404, `no such endpoint: ${req.method} ${req.path}`);
  });
  app.use(problemHandler(deps.logger));
  return app;
}
