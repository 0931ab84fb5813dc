import { Readable } from 'node:stream';
import type pg from 'pg';
import { withClientTransaction } from '../src/db/database.ts';
import {
  copyMarketRows,
  createMarketTable,
  dropMarketSchema,
  fillActuals,
  indexMarketTable,
  readMarketMeta,
  writeMarketMeta,
} from '../src/db/demo-market.ts';
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

const CHUNK_BYTES = 64 * 1024;

export async function seedMarket(
  pool: pg.Pool,
  params: Omit<MarketParams, 'shocks'>,
  onProgress: LoadProgress = () => {},
): Promise<LoadResult> {
  const market: MarketParams = { ...params, shocks: [] };
  return withClientTransaction(pool, async (client) => {
    await createMarketTable(client);
    await copyRows(client, market, 0, market.days, onProgress);
    await indexMarketTable(client);
    await writeMarketMeta(client, market);
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
    await fillActuals(client, dayOf(before, before.days - 1));
    await writeMarketMeta(client, market);
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
  await copyMarketRows(client, Readable.from(chunks(market, from, to, total, onProgress)));
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

/** The parameters of the demo market in the database, or undefined when there is none. */
export async function currentMarket(
  db: pg.Pool | pg.PoolClient,
  lock = false,
): Promise<MarketParams | undefined> {
  return (await readMarketMeta(db, lock)) as MarketParams | undefined;
}

/** Drops the demo market (`almanac demo --fresh`). */
export async function dropMarket(pool: pg.Pool): Promise<void> {
  await dropMarketSchema(pool);
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
