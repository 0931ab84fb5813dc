import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * Real Postgres and Redis for tests. A database per test file and a Redis key prefix per test,
 * created and dropped here; each drop first checks that the test closed every connection it
 * opened (the leak guard), and fails the test when it did not.
 */

export const ADMIN_URL = process.env.ALMANAC_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.ALMANAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DATABASE_PREFIX = 'almanac_test_';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'almanac-test-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(label: string): Promise<{ name: string; url: string }> {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 24);
  const name = `${TEST_DATABASE_PREFIX}${slug}_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  return { name, url: databaseUrl(name) };
}

/** The sessions still connected to a database, as "application (state)". */
export async function openConnections(name: string): Promise<string[]> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ who: string }>(
      `SELECT coalesce(nullif(application_name, ''), 'unnamed') || ' (' || coalesce(state, '?') || ')' AS who
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [name],
    );
    return rows.map((row) => row.who);
  });
}

/** Drops a test database; throws when connections were left open (after closing them). */
export async function dropDatabase(name: string): Promise<void> {
  // Give connections that are closing a moment to go before calling them leaks.
  let leaks = await openConnections(name);
  for (let i = 0; leaks.length > 0 && i < 20; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaks = await openConnections(name);
  }
  await withAdmin((client) =>
    client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  );
  if (leaks.length > 0) {
    throw new Error(
      `the test left ${leaks.length} Postgres connection(s) open to ${name}: ${leaks.join(', ')}`,
    );
  }
}

/**
 * Drops every test database (almanac_test_*): those that failed files kept for inspection. Only
 * on request (`npm run test:clean`), never by the suite, which drops the databases it made.
 */
export async function dropKeptDatabases(): Promise<string[]> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [TEST_DATABASE_PREFIX],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    return rows.map((row) => row.datname);
  });
}

export function newRedisPrefix(): string {
  return `almanac-test-${randomUUID()}`;
}

/**
 * Deletes every key under a prefix; throws when Redis connections named after the prefix are
 * still open (Almanac names its Redis connections after its prefix, so a leak shows up here).
 */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let leaks = await namedClients(redis, prefix);
    for (let i = 0; leaks.length > 0 && i < 20; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      leaks = await namedClients(redis, prefix);
    }
    await deleteKeys(redis, prefix);
    if (leaks.length > 0) {
      for (const id of leaks) await redis.client('KILL', 'ID', id);
      throw new Error(`the test left ${leaks.length} Redis connection(s) open under prefix ${prefix}`);
    }
  } finally {
    redis.disconnect();
  }
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Deletes every key under a prefix, its clients staying connected: Redis losing its data. */
export async function forgetRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    await deleteKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

async function namedClients(redis: Redis, prefix: string): Promise<string[]> {
  const list = (await redis.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => / name=(\S+)/.exec(line)?.[1]?.startsWith(prefix) === true)
    .map((line) => / id=(\d+)/.exec(` ${line}`)?.[1] ?? '')
    .filter((id) => id !== '');
}

/** A port of 127.0.0.1 that nothing listens on right now, for a server a test starts and restarts. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
