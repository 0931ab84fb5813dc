import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { createDb, type Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createDatabase, dropDatabase, dropRedisPrefix, newRedisPrefix } from './services.ts';

export type TestDatabase = { readonly name: string; readonly url: string };

/**
 * A fresh Postgres database for this test file, migrated unless `migrate: false`, and made the
 * process's DATABASE_URL (vitest isolates each file, so the config read from it is this file's).
 * Dropped after the file, unless a test failed: then it is kept for inspection (the next run's
 * global setup drops it).
 */
export function useTestDatabase(label: string, options: { migrate?: boolean } = {}): TestDatabase {
  const state = { name: '', url: '' };
  let failed = false;
  beforeAll(async () => {
    Object.assign(state, await createDatabase(label));
    process.env.DATABASE_URL = state.url;
    if (options.migrate !== false) {
      const db = createDb(state.url, { max: 1, applicationName: 'almanac-test-migrate' });
      try {
        await migrateToLatest(db);
      } finally {
        await db.destroy();
      }
    }
  });
  afterEach(({ task }) => {
    if (task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (state.name !== '' && !failed) await dropDatabase(state.name);
  });
  return state;
}

/** A kysely handle on the file's database for assertions, closed after the file. */
export function useDb(database: TestDatabase): () => Db {
  let db: Db | undefined;
  afterAll(async () => {
    await db?.destroy();
  });
  return () => {
    db ??= createDb(database.url, { max: 2, applicationName: 'almanac-test-assert' });
    return db;
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
