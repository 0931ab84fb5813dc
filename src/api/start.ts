import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from 'express-rate-limit';
import type { Runtime } from '../runtime.ts';
import { createSessions } from '../ui/session.ts';
import { within } from '../within.ts';
import { createApp } from './app.ts';
import { createKeyVerifier } from './auth.ts';
import { type Catalog, createCatalog } from './catalog.ts';
import { EstimateCache } from './estimate-cache.ts';
import { fastLookup } from './fast-lookup.ts';
import { createMetrics } from './metrics.ts';
import { rateLimitStore } from './rate-limit-store.ts';
import { ReportCache } from './report-cache.ts';
import { freshnessOf } from './served-version.ts';
import { listen, type RunningServer } from './server.ts';
import { createVersionReads, type VersionReads } from './version-reads.ts';

/** How long a scrape waits for the queue's depth (Redis answers in well under a millisecond). */
const QUEUE_DEPTH_MS = 1_000;

/**
 * The API on the runtime's connections: listens on HOST and PORT (or what `options` says) and
 * `close()` drains it; the runtime's connections stay its owner's to close.
 */
export async function startApi(
  runtime: Runtime,
  options: { port?: number; host?: string } = {},
): Promise<RunningServer & { catalog: Catalog }> {
  const { config, db, pool, logger } = runtime;
  const producer = runtime.producer();
  const catalog = await createCatalog(db, config.databaseUrl, logger);
  let reads: VersionReads | undefined;
  try {
    const metrics = createMetrics({
      // BullMQ's calls wait for Redis however long it is down: a scrape must answer regardless,
      // with the gauge unknown (NaN) until Redis is back
      queueDepth: () =>
        within(QUEUE_DEPTH_MS, producer.queue.getJobCounts('waiting', 'delayed', 'prioritized')).then(
          (counts) => Object.values(counts).reduce((sum, n) => sum + n, 0),
        ),
      heldVersions: () =>
        new Map(
          catalog
            .models()
            .map((model) => [
              model.name,
              [...model.versions.values()].filter((v) => v.state === 'held').length,
            ]),
        ),
      freshness: () => {
        const now = Date.now();
        return new Map(
          catalog.models().flatMap((model) => {
            const freshness = freshnessOf(model, now);
            return freshness === undefined ? [] : [[model.name, freshness] as const];
          }),
        );
      },
      replica:
        runtime.replica === undefined
          ? undefined
          : {
              up: () => reads?.replicaUp() ?? false,
              lagBytes: () => reads?.replicaLagBytes() ?? Promise.resolve(Number.NaN),
            },
    });
    reads = await createVersionReads({ primary: runtime, replica: runtime.replica, metrics, logger });
    const verifier = createKeyVerifier(db, catalog.onKeysChanged, {
      lookedUp: (result) => metrics.authLookups.inc({ result }),
    });
    const cache = new EstimateCache(100_000);
    // opted in: counted in Redis, shared with every replica on the same prefix, on the producer's
    // connection (which fails fast while Redis is down: then requests are let through uncounted)
    if (config.rateLimitRedis && !(await producer.connected(2_000))) {
      logger.warn('Redis does not answer: the rate limit is not counted until it does');
    }
    const redis = config.rateLimitRedis
      ? { connection: producer.connection, prefix: config.redisPrefix }
      : undefined;
    const requestCounts = rateLimitStore('requests', redis);
    const authFailureLimit =
      config.auth && config.authFailuresPerMinute > 0
        ? { store: rateLimitStore('auth-failures', redis), perMinute: config.authFailuresPerMinute }
        : undefined;
    // a limiter's middleware inits its store; this one is read by authenticate (src/api/auth.ts).
    // Redis down now: counting starts once it is back (src/api/rate-limit-store.ts)
    await Promise.resolve()
      .then(() =>
        authFailureLimit?.store.init?.({ windowMs: 60_000 } as Parameters<NonNullable<Store['init']>>[0]),
      )
      .catch((error: unknown) => logger.warn({ err: error }, 'failed authentications not counted yet'));
    const app = createApp({
      db,
      verifier,
      cache,
      pool,
      reads,
      catalog,
      queue: { enqueue: producer.enqueueRefresh, ready: producer.ready },
      redisPing: producer.ping,
      metrics,
      logger,
      auth: config.auth,
      rateLimitPerMinute: config.rateLimitPerMinute,
      rateLimitStore: requestCounts,
      ...(authFailureLimit === undefined ? {} : { authFailureLimit }),
      ...(redis === undefined ? {} : { loginAttemptStore: rateLimitStore('login-attempts', redis) }),
      maxImportBytes: config.maxImportBytes,
      reports: new ReportCache(2, config.reportTimeoutMs),
      sessions: createSessions(db, config.sessionSecret),
      trustProxy: config.trustProxy,
    });
    const fast = fastLookup({
      catalog,
      cache,
      reads,
      metrics,
      verifier,
      auth: config.auth,
      rateLimitPerMinute: config.rateLimitPerMinute,
      rateLimitStore: requestCounts,
      logger,
    });
    const running = await listen(
      (req: IncomingMessage, res: ServerResponse) => fast(req, res) || app(req, res),
      options.port ?? config.port,
      options.host ?? config.host,
      { idleTimeoutMs: config.httpIdleTimeoutMs },
    );
    return {
      ...running,
      catalog,
      close: async () => {
        await running.close();
        reads?.close();
        await catalog.close();
        await authFailureLimit?.store.shutdown?.();
      },
    };
  } catch (error) {
    reads?.close();
    await catalog.close();
    throw error;
  }
}
