import type { Writable } from 'node:stream';
import type pg from 'pg';
import { createQueue, refreshEnqueuer } from '../../jobs/queue.ts';
import { createRedis } from '../../jobs/redis.ts';
import { getConfig } from '../config.ts';
import { createDb, createPool, type Db } from '../db/database.ts';
import type { EnqueueRefresh } from '../runs/request.ts';

export type CliIo = {
  stdout: Writable;
  stderr: Writable;
  /** whether stderr is a terminal (progress bars draw only there) */
  interactive: boolean;
  /** stops long-running commands like a signal would (tests drive the CLI in-process) */
  stop?: AbortSignal;
};

export const processIo: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  interactive: process.stderr.isTTY === true,
};

/** What a command is given: where to write, and connections it opens on demand and never leaks. */
export type CliContext = {
  io: CliIo;
  print: (line?: string) => void;
  /** One kysely instance per command, closed when the command ends. */
  db: () => Db;
  /** One raw pool per command (COPY, cursors), closed when the command ends. */
  pool: () => pg.Pool;
  /** A producer on the job queue, once Redis answers (fails fast when it does not). */
  enqueue: () => Promise<EnqueueRefresh>;
  close: () => Promise<void>;
  /** Set by a command that succeeds with a code of its own (3: held by the drift gate). */
  exitCode: number;
};

export function createCliContext(io: CliIo): CliContext {
  let db: Db | undefined;
  let pool: pg.Pool | undefined;
  let producer: { close: () => Promise<void>; enqueue: EnqueueRefresh } | undefined;
  return {
    io,
    print: (line = '') => io.stdout.write(`${line}\n`),
    db: () => {
      db ??= createDb(getConfig().databaseUrl, { max: 4, applicationName: 'almanac-cli' });
      return db;
    },
    pool: () => {
      pool ??= createPool(getConfig().databaseUrl, { max: 2, applicationName: 'almanac-cli' });
      return pool;
    },
    enqueue: async () => {
      producer ??= await connectProducer();
      return producer.enqueue;
    },
    close: async () => {
      await Promise.all([db?.destroy(), pool?.end(), producer?.close()]);
      db = undefined;
      pool = undefined;
      producer = undefined;
    },
    exitCode: 0,
  };
}

async function connectProducer(): Promise<{ close: () => Promise<void>; enqueue: EnqueueRefresh }> {
  const { redisUrl, redisPrefix } = getConfig();
  const redis = createRedis(redisUrl, redisPrefix, 'cli', { failFast: true });
  const queue = createQueue(redis, redisPrefix);
  const close = async () => {
    await queue.close().catch(() => {});
    redis.disconnect();
  };
  const ready = await new Promise<boolean>((resolve) => {
    if (redis.status === 'ready') resolve(true);
    const timer = setTimeout(() => resolve(false), 5_000);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  if (!ready) {
    await close();
    throw new Error(`cannot reach Redis (REDIS_URL) at ${new URL(redisUrl).host}; is it running?`);
  }
  return { close, enqueue: refreshEnqueuer(queue, redis) };
}
