import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { UnavailableError } from '../errors.ts';
import { connectionConfig } from './client.ts';
import type { Database } from './types.ts';

// `date` columns stay 'YYYY-MM-DD' strings: turning them into local-midnight Date objects would
// shift days across time zones.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

export type Db = Kysely<Database>;

export type DatabaseOptions = {
  /** Pool size: one pool per process serves kysely and the raw work (COPY, cursors) alike. */
  max?: number;
  applicationName?: string;
  /** how long a new connection may take; a replica that does not answer is given up on sooner */
  connectTimeoutMs?: number;
  /** the setting the connection string came from, named when it cannot be reached */
  setting?: string;
  /**
   * Whether idle connections stay open for good rather than closing after 10 s idle. A new
   * Postgres backend maps each shared buffer it touches for the first time, and on a VM that is
   * slow: 40,000 page faults and 0.5 s of CPU for a backend's first read of a 128 MB buffer pool
   * (measured here). A worker keeps its backends, so that every night's refresh reads through
   * backends that have paid that before.
   */
  keepIdle?: boolean;
};

/** A process's connections to one database: kysely and the raw pool it runs on. */
export type Connections = {
  db: Db;
  /** the same pool, for what kysely does not do: COPY streams, cursors, advisory locks */
  pool: pg.Pool;
  /** ends kysely and the pool */
  close: () => Promise<void>;
};

export function openDatabase(connectionString: string, options: DatabaseOptions = {}): Connections {
  const pool = createPool(connectionString, options);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    close: async () => {
      await db.destroy();
      // kysely ends the pool only when it ran a query itself
      if (!pool.ended) await pool.end();
    },
  };
}

function createPool(connectionString: string, options: DatabaseOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(connectionString),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'almanac',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    // 0: never closed for being idle (a closed or failed one is replaced on its next use)
    idleTimeoutMillis: options.keepIdle === true ? 0 : 10_000,
  });
  const setting = options.setting ?? 'DATABASE_URL';
  // A client that loses its server emits 'error' (on the pool when idle, on itself when checked
  // out); without a listener that would crash the process. The query in flight fails anyway.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    guardQueries(client, connectionString, setting);
  });
  const connect = pool.connect.bind(pool) as (
    callback?: ConnectCallback,
  ) => Promise<pg.PoolClient> | undefined;
  pool.connect = ((callback?: ConnectCallback) =>
    callback === undefined
      ? connect()?.catch((error: unknown) => {
          throw connectionFailure(error, connectionString, setting);
        })
      : connect((error, client, done) =>
          callback(
            error === undefined || error === null
              ? error
              : (connectionFailure(error, connectionString, setting) as Error),
            client,
            done,
          ),
        )) as typeof pool.connect;
  return pool;
}

type ConnectCallback = (
  error: Error | undefined | null,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * The driver's own failures (a refused or lost connection, a pool that timed out) carry no
 * SQLSTATE, and some no code at all: they become UnavailableError here, at the edge of the
 * database, so that callers classify errors by class (src/classify-error.ts), never by message.
 */
export function connectionFailure(
  error: unknown,
  connectionString: string,
  setting = 'DATABASE_URL',
): unknown {
  if (error instanceof pg.DatabaseError || error instanceof UnavailableError || !(error instanceof Error))
    return error;
  if (error instanceof TypeError || error instanceof RangeError) return error;
  const target = new URL(connectionString);
  const where = `${target.hostname}:${target.port || 5432}`;
  const code = (error as { code?: unknown }).code;
  return new UnavailableError(
    typeof code === 'string'
      ? `cannot reach Postgres (${setting}) at ${where} (${code}); is it running?`
      : `lost the connection to Postgres (${setting}) at ${where} (${error.message}); try again shortly`,
    { cause: error, detail: 'the database is not reachable right now; try again shortly' },
  );
}

/** Makes a pooled client's failed queries pass through connectionFailure, promises and callbacks alike. */
function guardQueries(client: pg.PoolClient, connectionString: string, setting: string): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const last = args.at(-1);
    if (typeof last === 'function') {
      args[args.length - 1] = (error: unknown, ...rest: unknown[]) =>
        (last as (...a: unknown[]) => void)(
          error == null ? error : connectionFailure(error, connectionString, setting),
          ...rest,
        );
      return query(...args);
    }
    const result = query(...args);
    return result instanceof Promise
      ? result.catch((error: unknown) => {
          throw connectionFailure(error, connectionString, setting);
        })
      : result;
  }) as typeof client.query;
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
