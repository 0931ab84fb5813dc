import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { withClientTransaction } from '../src/db/database.ts';
import { NotFoundError } from '../src/errors.ts';
import {
  addDays,
  type MarketParams,
  type PriceRow,
  planMarket,
  type Shock,
  tickerHistory,
} from './market.ts';

/**
 * Loads the demo market into `demo.daily_prices` through COPY, in one transaction: readers see the
 * old table or the new one, never half of either.
 */

export type LoadProgress = (rowsDone: number, rowsTotal: number) => void;
export type LoadResult = { rows: number; params: MarketParams; firstDay: string; lastDay: string };

const TABLE = 'demo.daily_prices';
const CHUNK_BYTES = 64 * 1024;

export async function seedMarket(
  pool: pg.Pool,
  params: Omit<MarketParams, 'shocks'>,
  onProgress: LoadProgress = () => {},
): Promise<LoadResult> {
  const market: MarketParams = { ...params, shocks: [] };
  return withClientTransaction(pool, async (client) => {
    await client.query('CREATE SCHEMA IF NOT EXISTS demo');
    await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await client.query(`
      CREATE TABLE ${TABLE} (
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
      `COMMENT ON TABLE ${TABLE} IS 'Almanac demo market (almanac seed); close_next is the next day''s close, null until it is known'`,
    );
    await copyRows(client, market, 0, market.days, onProgress);
    // Indexes after the load: building them once is much cheaper than maintaining them per row.
    await client.query(`ALTER TABLE ${TABLE} ADD PRIMARY KEY (ticker, day)`);
    await client.query(`CREATE INDEX daily_prices_day_idx ON ${TABLE} (day)`);
    await client.query(`ANALYZE ${TABLE}`);
    await writeMeta(client, market);
    return result(market, market.days * market.keys);
  });
}

/** Appends `days` days, fills the previous newest day's `close_next`, and records any shock. */
export async function advanceMarket(
  pool: pg.Pool,
  days: number,
  shockPct: number | undefined,
  onProgress: LoadProgress = () => {},
): Promise<LoadResult> {
  return withClientTransaction(pool, async (client) => {
    const before = await readMeta(client);
    const shocks: Shock[] =
      shockPct === undefined ? [...before.shocks] : [...before.shocks, { day: before.days, pct: shockPct }];
    const market: MarketParams = { ...before, days: before.days + days, shocks };
    await copyRows(client, market, before.days, market.days, onProgress);
    // The actuals of the previous newest day arrive with its next day.
    await client.query(
      `UPDATE ${TABLE} AS today SET close_next = tomorrow.close
       FROM ${TABLE} AS tomorrow
       WHERE today.day = $1::date AND tomorrow.day = $1::date + 1 AND tomorrow.ticker = today.ticker`,
      [dayOf(before, before.days - 1)],
    );
    await client.query(`ANALYZE ${TABLE}`);
    await writeMeta(client, market);
    return result(market, days * market.keys);
  });
}

async function copyRows(
  client: pg.PoolClient,
  market: MarketParams,
  from: number,
  to: number,
  onProgress: LoadProgress,
): Promise<void> {
  const total = (to - from) * market.keys;
  const copy = client.query(
    copyFrom(`COPY ${TABLE} (ticker, day, close, volume, ma_5, ma_20, volume_z, close_next) FROM STDIN`),
  );
  await pipeline(Readable.from(chunks(market, from, to, total, onProgress)), copy);
}

function* chunks(
  market: MarketParams,
  from: number,
  to: number,
  total: number,
  onProgress: LoadProgress,
): Generator<string> {
  const plan = planMarket(market, market.days - 1);
  let buffer = '';
  let rows = 0;
  for (let index = 0; index < market.keys; index += 1) {
    for (const row of tickerHistory(plan, index, from, to)) {
      buffer += line(row);
      rows += 1;
    }
    if (buffer.length >= CHUNK_BYTES) {
      yield buffer;
      buffer = '';
      onProgress(rows, total);
    }
  }
  if (buffer.length > 0) yield buffer;
  onProgress(rows, total);
}

const line = (r: PriceRow) =>
  `${r.ticker}\t${r.day}\t${r.close}\t${r.volume}\t${r.ma5}\t${r.ma20}\t${r.volumeZ}\t${r.closeNext ?? '\\N'}\n`;

async function writeMeta(client: pg.PoolClient, market: MarketParams): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS demo.market_meta (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      params jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  await client.query(
    `INSERT INTO demo.market_meta (id, params) VALUES (true, $1)
     ON CONFLICT (id) DO UPDATE SET params = EXCLUDED.params, updated_at = now()`,
    [JSON.stringify(market)],
  );
}

/** The parameters of the demo market in the database, or undefined when there is none. */
export async function currentMarket(
  db: pg.Pool | pg.PoolClient,
  lock = false,
): Promise<MarketParams | undefined> {
  const exists = await db.query<{ ok: boolean }>(
    `SELECT to_regclass('demo.market_meta') IS NOT NULL AND to_regclass('${TABLE}') IS NOT NULL AS ok`,
  );
  if (exists.rows[0]?.ok !== true) return undefined;
  const found = await db.query<{ params: MarketParams }>(
    `SELECT params FROM demo.market_meta${lock ? ' FOR UPDATE' : ''}`,
  );
  return found.rows[0]?.params;
}

async function readMeta(client: pg.PoolClient): Promise<MarketParams> {
  const params = await currentMarket(client, true);
  if (params === undefined) {
    throw new NotFoundError('there is no demo market to advance yet; create one with `almanac seed`');
  }
  return params;
}

const dayOf = (market: MarketParams, offset: number) => addDays(market.start, offset);

function result(market: MarketParams, rows: number): LoadResult {
  return { rows, params: market, firstDay: dayOf(market, 0), lastDay: dayOf(market, market.days - 1) };
}
