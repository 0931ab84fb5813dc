import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * The demo market's tables (seeds/ generates the rows): `demo.daily_prices` and the parameters
 * that made it, `demo.market_meta`, so that `--advance` can continue it exactly.
 */

export const MARKET_TABLE = 'demo.daily_prices';
const META_TABLE = 'demo.market_meta';

/** Replaces the price table with an empty one (in the caller's transaction). */
export async function createMarketTable(client: pg.PoolClient): Promise<void> {
  await client.query('CREATE SCHEMA IF NOT EXISTS demo');
  await client.query(`DROP TABLE IF EXISTS ${MARKET_TABLE}`);
  await client.query(`
    CREATE TABLE ${MARKET_TABLE} (
      ticker text NOT NULL,
      day date NOT NULL,
      close double precision NOT NULL,
      volume bigint NOT NULL,
      ma_5 double precision NOT NULL,
      ma_20 double precision NOT NULL,
      volume_z double precision NOT NULL,
      close_next double precision
    )`);
  await client.query(
    `COMMENT ON TABLE ${MARKET_TABLE} IS 'Almanac demo market (almanac seed); close_next is the next day''s close, null until it is known'`,
  );
}

/**
 * Lets the features be null, for bad days made on purpose (`seed --advance --null-share`): a real
 * source has gaps, and the input checks should see them. Nothing to do when they already may.
 */
export async function allowNullFeatures(client: pg.PoolClient): Promise<void> {
  await client.query(
    `ALTER TABLE ${MARKET_TABLE} ${['close', 'volume', 'ma_5', 'ma_20', 'volume_z']
      .map((column) => `ALTER COLUMN ${column} DROP NOT NULL`)
      .join(', ')}`,
  );
}

/** COPYs rows (`ticker\tday\tclose\tvolume\tma_5\tma_20\tvolume_z\tclose_next` lines) into the price table. */
export async function copyMarketRows(client: pg.PoolClient, lines: Readable): Promise<void> {
  await pipeline(
    lines,
    client.query(
      copyFrom(
        `COPY ${MARKET_TABLE} (ticker, day, close, volume, ma_5, ma_20, volume_z, close_next) FROM STDIN`,
      ),
    ),
  );
}

/** Indexes after the load: building them once is much cheaper than maintaining them per row. */
export async function indexMarketTable(client: pg.PoolClient): Promise<void> {
  await client.query(`ALTER TABLE ${MARKET_TABLE} ADD PRIMARY KEY (ticker, day)`);
  await client.query(`CREATE INDEX daily_prices_day_idx ON ${MARKET_TABLE} (day)`);
  await client.query(`ANALYZE ${MARKET_TABLE}`);
}

/** The actuals of `day` arrive with the day after it: its `close_next` becomes that day's close. */
export async function fillActuals(client: pg.PoolClient, day: string): Promise<void> {
  await client.query(
    `UPDATE ${MARKET_TABLE} AS today SET close_next = tomorrow.close
     FROM ${MARKET_TABLE} AS tomorrow
     WHERE today.day = $1::date AND tomorrow.day = $1::date + 1 AND tomorrow.ticker = today.ticker`,
    [day],
  );
  await client.query(`ANALYZE ${MARKET_TABLE}`);
}

export async function writeMarketMeta(client: pg.PoolClient, params: unknown): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS ${META_TABLE} (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      params jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  await client.query(
    `INSERT INTO ${META_TABLE} (id, params) VALUES (true, $1)
     ON CONFLICT (id) DO UPDATE SET params = EXCLUDED.params, updated_at = now()`,
    [JSON.stringify(params)],
  );
}

/** The stored parameters of the market, or undefined when there is none; `lock` holds them to the transaction's end. */
export async function readMarketMeta(db: pg.Pool | pg.PoolClient, lock = false): Promise<unknown> {
  const exists = await db.query<{ ok: boolean }>(
    `SELECT to_regclass('${META_TABLE}') IS NOT NULL AND to_regclass('${MARKET_TABLE}') IS NOT NULL AS ok`,
  );
  if (exists.rows[0]?.ok !== true) return undefined;
  const found = await db.query<{ params: unknown }>(
    `SELECT params FROM ${META_TABLE}${lock ? ' FOR UPDATE' : ''}`,
  );
  return found.rows[0]?.params;
}

/** Drops the demo schema with its tables (`almanac demo --fresh`). */
export async function dropMarketSchema(db: pg.Pool): Promise<void> {
  await db.query('DROP SCHEMA IF EXISTS demo CASCADE');
}
