import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type AlmanacQueue, addWithin, createQueue, type JobName, type JobPayload } from '../jobs/queue.ts';
import { createRedis } from '../jobs/redis.ts';
import type { Config } from './config.ts';
import { type Connections, type Db, openDatabase } from './db/database.ts';
import { UnavailableError } from './errors.ts';
import { createLogger } from './logger.ts';
import type { EnqueueRefresh } from './runs/request.ts';

/**
 * The one wiring of a process: its config, logger, the one Postgres pool (kysely and the raw work
 * share it), the read replica's pool when it reads from one, and its Redis connections, opened
 * here and closed here, in order. The API, the
 * worker, the scheduler, the demo, the CLI, tests and benchmarks all start from `openRuntime`.
 */

export type Role = 'api' | 'worker' | 'scheduler' | 'demo' | 'cli';

/** Putting jobs on the queue, failing fast when Redis is down (src/runs/request.ts relies on it). */
export type Producer = {
  queue: AlmanacQueue;
  /** its connection (commands fail at once while Redis is down), for the API's shared rate limit too */
  connection: Redis;
  /** whether its Redis connection is up right now */
  ready: () => boolean;
  /** a round trip to Redis (fails at once while it is down) */
  ping: () => Promise<unknown>;
  /** waits until Redis answers, up to `ms`; false when it did not, or refused the connection */
  connected: (ms: number) => Promise<boolean>;
  add: <N extends JobName>(name: N, payload: JobPayload<N>, jobId: string) => Promise<void>;
  enqueueRefresh: EnqueueRefresh;
};

export type Runtime = {
  role: Role;
  config: Config;
  logger: Logger;
  db: Db;
  pool: pg.Pool;
  /**
   * the read replica (DATABASE_READ_URL): where the API reads versions' rows once it has replayed
   * them (src/api/version-reads.ts); only the API and the demo, which serves it, open one
   */
  replica: Pick<Connections, 'db' | 'pool'> | undefined;
  /** the process's producer on the job queue, connected on first use */
  producer: () => Producer;
  /**
   * a Redis connection of its own (a worker's blocking one), closed with the runtime; `failFast`:
   * commands fail at once while Redis is down instead of waiting for it to come back
   */
  redis: (purpose: string, options?: { failFast?: boolean }) => Redis;
  close: () => Promise<void>;
};

/** Connections each kind of process uses at once: its work, plus a drift report's two. */
function poolSize(role: Role, config: Config): number {
  const worker = config.workerConcurrency * 3 + 2;
  switch (role) {
    case 'api':
      return 16;
    case 'worker':
      return worker;
    case 'demo':
      return 16 + worker;
    case 'scheduler':
      return 2;
    case 'cli':
      return 4;
  }
}

/** Processes that serve lookups, snapshots and diffs, and so read from a replica when there is one. */
const READERS: ReadonlySet<Role> = new Set(['api', 'demo']);

export function openRuntime(config: Config, role: Role, options: { logger?: Logger } = {}): Runtime {
  const logger = options.logger ?? createLogger(config);
  const {
    db,
    pool,
    close: closeDatabase,
  } = openDatabase(config.databaseUrl, {
    max: poolSize(role, config),
    applicationName: `almanac-${role}`,
    keepIdle: role === 'worker',
  });
  const replica =
    config.databaseReadUrl === undefined || !READERS.has(role)
      ? undefined
      : openDatabase(config.databaseReadUrl, {
          max: poolSize('api', config),
          applicationName: `almanac-${role}-read`,
          // reads fall back to the primary when the replica does not answer: soon, not in 10 s
          connectTimeoutMs: 2_000,
          setting: 'DATABASE_READ_URL',
        });
  const connections: Redis[] = [];
  let producer: Producer | undefined;
  const redis = (purpose: string, failFast = false) => {
    const connection = createRedis(config.redisUrl, config.redisPrefix, `${role}-${purpose}`, { failFast });
    connections.push(connection);
    return connection;
  };
  return {
    role,
    config,
    logger,
    db,
    pool,
    replica: replica === undefined ? undefined : { db: replica.db, pool: replica.pool },
    producer: () => {
      producer ??= createProducer(redis('producer', true), config.redisPrefix, logger);
      return producer;
    },
    redis: (purpose, options) => redis(purpose, options?.failFast ?? false),
    close: async () => {
      await producer?.queue.close().catch(() => {});
      for (const connection of connections) connection.disconnect();
      await replica?.close();
      await closeDatabase();
    },
  };
}

function createProducer(connection: Redis, prefix: string, logger: Logger): Producer {
  const queue = createQueue(connection, prefix);
  queue.on('error', (error) => logger.debug({ err: error }, 'job queue connection error'));
  const add: Producer['add'] = (name, payload, jobId) => addWithin(queue, connection, name, payload, jobId);
  return {
    queue,
    connection,
    ready: () => connection.status === 'ready',
    ping: () => connection.ping(),
    connected: (ms) =>
      new Promise((resolve) => {
        if (connection.status === 'ready') {
          resolve(true);
          return;
        }
        const settle = (up: boolean) => {
          clearTimeout(timer);
          connection.off('ready', onReady);
          connection.off('error', onError);
          resolve(up);
        };
        const onReady = () => settle(true);
        // a refused or unreachable server answers at once: no need to wait out the time
        const onError = () => settle(false);
        const timer = setTimeout(() => settle(false), ms);
        connection.once('ready', onReady);
        connection.once('error', onError);
      }),
    add,
    enqueueRefresh: (jobId, payload) => add('refresh', payload, jobId),
  };
}

/** The producer, once Redis answers; an UnavailableError naming REDIS_URL when it does not within `ms`. */
export async function connectedProducer(runtime: Runtime, ms = 2_000): Promise<Producer> {
  const producer = runtime.producer();
  if (!(await producer.connected(ms))) {
    throw new UnavailableError(
      `cannot reach Redis at ${new URL(runtime.config.redisUrl).host} (REDIS_URL); is it running?`,
      { detail: 'the job queue (Redis) is not reachable right now; try again shortly' },
    );
  }
  return producer;
}
