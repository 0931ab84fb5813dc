import { pino } from 'pino';
import { createQueue, refreshEnqueuer } from '../../jobs/queue.ts';
import { createRedis } from '../../jobs/redis.ts';
import { createApp } from '../../src/api/app.ts';
import { createCatalog } from '../../src/api/catalog.ts';
import { createMetrics } from '../../src/api/metrics.ts';
import { listen } from '../../src/api/server.ts';
import { createDb, createPool } from '../../src/db/database.ts';
import { REDIS_URL } from './services.ts';

export type TestApi = Awaited<ReturnType<typeof startTestApi>>;
/** A parsed JSON body: fields are loosely typed, as each test asserts the shape it expects. */
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = Record<string, any>;

/** The real app on a real port, against the file's database and a Redis prefix. */
export async function startTestApi(
  databaseUrl: string,
  prefix: string,
  options: { auth?: boolean; rateLimitPerMinute?: number; redisUrl?: string; maxImportBytes?: number } = {},
) {
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const db = createDb(databaseUrl, { max: 4, applicationName: 'almanac-test-api' });
  const pool = createPool(databaseUrl, { max: 4, applicationName: 'almanac-test-api' });
  const redis = createRedis(options.redisUrl ?? REDIS_URL, prefix, 'api', { failFast: true });
  redis.on('error', () => {});
  const queue = createQueue(redis, prefix);
  queue.on('error', () => {});
  const catalog = await createCatalog(db, databaseUrl, logger);
  const app = createApp({
    db,
    pool,
    catalog,
    queue: { enqueue: refreshEnqueuer(queue, redis), ready: () => redis.status === 'ready' },
    redisPing: () => redis.ping(),
    metrics: createMetrics(),
    logger,
    auth: options.auth ?? false,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    maxImportBytes: options.maxImportBytes ?? 1024 ** 3,
  });
  const server = await listen(app, 0, '127.0.0.1');
  const request = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
  const json = async (path: string, init: RequestInit = {}) => {
    const res = await request(path, init);
    const text = await res.text();
    // Bodies are JSON whose shape each test asserts; an empty body reads as {}.
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> & {
      [field: string]: never;
    };
    return { status: res.status, headers: res.headers, body: body as Record<string, unknown> as Body };
  };
  return {
    url: server.url,
    catalog,
    request,
    json,
    post: (path: string, body: unknown, headers: Record<string, string> = {}) =>
      json(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    close: async () => {
      await server.close();
      await catalog.close();
      await queue.close().catch(() => {});
      redis.disconnect();
      await db.destroy();
      await pool.end();
    },
  };
}
