import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type AdvanceOptions, advanceMarket, seedMarket } from '../../seeds/load-market.ts';
import type { MarketParams } from '../../seeds/market.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type Pipeline, startPipeline } from './pipeline.ts';
import { testRuntime } from './runtime.ts';
import { createDatabase, dropDatabase, dropRedisPrefix, newRedisPrefix } from './services.ts';

/** The prefix of runtimes that only use Postgres: they never connect to Redis. */
const NO_REDIS = 'almanac-test-postgres-only';

export type TestDatabase = { readonly name: string; readonly url: string };

/**
 * A fresh Postgres database for this test file, migrated unless `migrate: false`, and made the
 * process's DATABASE_URL (vitest isolates each file, so the config read from it is this file's).
 * Dropped after the file, unless a test failed: then it is kept for inspection, and named
 * (`npm run test:clean` drops such databases).
 */
export function useTestDatabase(label: string, options: { migrate?: boolean } = {}): TestDatabase {
  const state = { name: '', url: '' };
  let failed = false;
  beforeAll(async () => {
    Object.assign(state, await createDatabase(label));
    process.env.DATABASE_URL = state.url;
    if (options.migrate !== false) {
      const runtime = testRuntime(state.url, NO_REDIS, 'cli');
      try {
        await migrateToLatest(runtime.db);
      } finally {
        await runtime.close();
      }
    }
  });
  afterEach(({ task }) => {
    if (task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (state.name === '') return;
    if (!failed) await dropDatabase(state.name);
    else console.warn(`kept the database ${state.name} of a failed test; \`npm run test:clean\` drops it`);
  });
  return state;
}

/**
 * The file's connections to its database, for setting up and asserting (kysely, and the raw pool
 * it runs on), opened on first use and closed after the file.
 */
export function useConnections(database: TestDatabase): {
  db: () => Db;
  pool: () => pg.Pool;
  /** the runtime they belong to, for what takes one (an import) */
  runtime: () => Runtime;
} {
  let opened: Runtime | undefined;
  const open = () => {
    opened ??= testRuntime(database.url, NO_REDIS, 'cli');
    return opened;
  };
  afterAll(async () => {
    await opened?.close();
  });
  return { db: () => open().db, pool: () => open().pool, runtime: open };
}

/** The demo market (seeds/), seeded once before the file's tests; `advance` appends days to it. */
export function useMarket(
  connections: { pool: () => pg.Pool },
  params: Pick<MarketParams, 'keys' | 'days' | 'seed'> & { start?: string },
): { advance: (days: number, options?: AdvanceOptions) => Promise<void> } {
  beforeAll(async () => {
    await seedMarket(connections.pool(), { start: '2026-01-01', ...params });
  }, 120_000);
  return {
    advance: async (days, options) => {
      await advanceMarket(connections.pool(), days, options);
    },
  };
}

/**
 * A producer and an in-process worker on the prefix (src/runtime.ts wiring), started before the
 * file's tests and closed after them, or around each test (`each: true`, with a prefix per test).
 */
export function usePipeline(
  database: TestDatabase,
  prefix: { readonly current: string },
  options: { each?: boolean } = {},
): () => Pipeline {
  let pipeline: Pipeline | undefined;
  const start = async () => {
    pipeline = await startPipeline(database.url, prefix.current);
  };
  const stop = async () => {
    await pipeline?.close();
    pipeline = undefined;
  };
  if (options.each === true) {
    beforeEach(start);
    afterEach(stop);
  } else {
    beforeAll(start);
    afterAll(stop);
  }
  return () => {
    if (pipeline === undefined) throw new Error('the pipeline is not running (outside a test?)');
    return pipeline;
  };
}

/** A Redis key prefix of its own for each test; pass it to what the test builds. */
export function useRedisPrefix(): { readonly current: string } {
  const state = { current: '' };
  beforeEach(() => {
    state.current = newRedisPrefix();
  });
  afterEach(async () => {
    await dropRedisPrefix(state.current);
  });
  return state;
}

/**
 * One Redis prefix for a whole file, made the process's ALMANAC_REDIS_PREFIX before the config is
 * first read: for tests that drive the CLI, which takes its prefix from the config.
 */
export function useFileRedisPrefix(): { readonly current: string } {
  const state = { current: newRedisPrefix() };
  process.env.ALMANAC_REDIS_PREFIX = state.current;
  afterAll(async () => {
    await dropRedisPrefix(state.current);
  });
  return state;
}

/** A folder of the file's own for files a test writes (specs, CSVs), removed after the file. */
export function useTempFiles(label: string): { write: (name: string, content: string) => Promise<string> } {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    write: async (name, content) => {
      dir ??= await mkdtemp(path.join(tmpdir(), `almanac-test-${label}-`));
      const file = path.join(dir, name);
      await writeFile(file, content);
      return file;
    },
  };
}

/**
 * The setup most files need, in one call: a database of the file's own (migrated), connections to
 * it, a Redis prefix (the file's, or each test's with `each`), the demo market when `market` is
 * given, and a worker with `pipeline`.
 */
export function useTestSetup(
  label: string,
  options: {
    market?: Parameters<typeof useMarket>[1];
    pipeline?: boolean;
    /** a Redis prefix, and a pipeline, per test instead of per file */
    each?: boolean;
  } = {},
) {
  const database = useTestDatabase(label);
  const connections = useConnections(database);
  const prefix = options.each === true ? useRedisPrefix() : useFileRedisPrefix();
  const market = options.market === undefined ? undefined : useMarket(connections, options.market);
  const pipeline =
    options.pipeline === true ? usePipeline(database, prefix, { each: options.each === true }) : undefined;
  return {
    database,
    ...connections,
    prefix,
    advance: async (days: number, options?: AdvanceOptions) => {
      if (market === undefined) throw new Error('this file has no market');
      await market.advance(days, options);
    },
    pipeline: () => {
      if (pipeline === undefined) throw new Error('this file has no pipeline');
      return pipeline();
    },
  };
}

/**
 * What a test started (processes, servers, pipelines), stopped after it in reverse order, every
 * one even when another fails to stop (the failures are then the test's). Called after
 * `useRedisPrefix`, so that its processes are gone before the prefix's leak guard looks.
 */
export function useCleanups(): { push: (cleanup: () => Promise<unknown>) => void } {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    const failures: unknown[] = [];
    for (let cleanup = cleanups.pop(); cleanup !== undefined; cleanup = cleanups.pop()) {
      await cleanup().catch((error: unknown) => failures.push(error));
    }
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} cleanup(s) failed`);
  });
  return { push: (cleanup) => cleanups.push(cleanup) };
}
