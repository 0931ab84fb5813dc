import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

// `date` columns stay 'YYYY-MM-DD' strings: turning them into local-midnight Date objects would
// shift days across time zones.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export type Db = Kysely<Database>;

export type DatabaseOptions = {
  /** Pool size; each API process, worker and CLI command opens its own pool. */
  max?: number;
  applicationName?: string;
};

/** A kysely instance over its own pg pool; `db.destroy()` ends the pool. */
export function createDb(connectionString: string, options: DatabaseOptions = {}): Db {
  const pool = createPool(connectionString, options);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** A raw pg pool, for what kysely does not do: COPY streams, cursors, LISTEN, advisory locks. */
export function createPool(connectionString: string, options: DatabaseOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'almanac',
    connectionTimeoutMillis: 10_000,
    options: sessionOptions,
  });
  // A client that loses its server emits 'error' (on the pool when idle, on itself when checked
  // out); without a listener that would crash the process. The query in flight fails anyway.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * A connection of its own, outside any pool, with our session options: for an attempt's fenced
 * connection, LISTEN, a scoring thread. The caller connects it, listens for its 'error' as it
 * sees fit, and ends it.
 */
export function createClient(connectionString: string, applicationName: string): pg.Client {
  return new pg.Client({ connectionString, application_name: applicationName, options: sessionOptions });
}

/** Runs `work` in a transaction on one pooled client: for COPY and other work kysely cannot do. */
export async function withClientTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * A kysely instance whose every query runs on one given client: the refresh attempt's own
 * connection, which holds its advisory lock, so that what it writes is fenced by that lock.
 * Destroying it leaves the client open; its owner ends it.
 */
export function createDbOnClient(client: pg.Client | pg.PoolClient): Db {
  const facade = {
    connect: async () => ({ query: client.query.bind(client), release: () => {} }),
    end: async () => {},
  };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: facade as unknown as pg.Pool }) });
}

/** Options every connection of ours gets: UTC, so dates and timestamps never shift. */
export const sessionOptions = '-c TimeZone=UTC';
