import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryStore } from 'express-rate-limit';
import type { Logger } from 'pino';
import { createQueue, refreshEnqueuer } from '../../jobs/queue.ts';
import { createRedis } from '../../jobs/redis.ts';
import type { Config } from '../config.ts';
import { createDb, createPool } from '../db/database.ts';
import { createApp } from './app.ts';
import { createKeyVerifier } from './auth.ts';
import { type Catalog, createCatalog } from './catalog.ts';
import { EstimateCache } from './estimate-cache.ts';
import { fastLookup } from './fast-lookup.ts';
import { createMetrics } from './metrics.ts';
import { listen, type RunningServer } from './server.ts';

/** Builds everything the API needs from the config, listens, and closes it all in order. */
export async function startApi(
  config: Config,
  logger: Logger,
  options: { port?: number; host?: string } = {},
): Promise<RunningServer & { catalog: Catalog }> {
  const db = createDb(config.databaseUrl, { max: 10, applicationName: 'almanac-api' });
  const pool = createPool(config.databaseUrl, { max: 10, applicationName: 'almanac-api' });
  const redis = createRedis(config.redisUrl, config.redisPrefix, 'api', { failFast: true });
  const queue = createQueue(redis, config.redisPrefix);
  queue.on('error', (error) => logger.warn({ err: error }, 'job queue error'));
  const catalog = await createCatalog(db, config.databaseUrl, logger);
  const metrics = createMetrics({
    queueDepth: async () => {
      const counts = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    },
    heldVersions: () =>
      new Map(
        catalog
          .models()
          .map((model) => [
            model.name,
            [...model.versions.values()].filter((v) => v.state === 'held').length,
          ]),
      ),
  });
  const verifier = createKeyVerifier(db, catalog.onKeysChanged);
  const cache = new EstimateCache(100_000);
  const rateLimitStore = new MemoryStore();
  const app = createApp({
    db,
    verifier,
    cache,
    pool,
    catalog,
    queue: { enqueue: refreshEnqueuer(queue, redis), ready: () => redis.status === 'ready' },
    redisPing: () => redis.ping(),
    metrics,
    logger,
    auth: config.auth,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitStore,
    maxImportBytes: config.maxImportBytes,
  });
  const fast = fastLookup({
    catalog,
    cache,
    pool,
    metrics,
    verifier,
    auth: config.auth,
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitStore,
  });
  const running = await listen(
    (req: IncomingMessage, res: ServerResponse) => fast(req, res) || app(req, res),
    options.port ?? config.port,
    options.host,
  );
  return {
    ...running,
    catalog,
    close: async () => {
      await running.close();
      await catalog.close();
      await queue.close().catch(() => {});
      redis.disconnect();
      await db.destroy();
      await pool.end();
    },
  };
}
