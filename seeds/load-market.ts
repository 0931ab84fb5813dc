import { Readable } from 'node:stream';
import type pg from 'pg';
import { withClientTransaction } from '../src/db/database.ts';
import {
  allowNullFeatures,
  copyMarketRows,
  createMarketTable,
  dropMarketSchema,
  fillActuals,
  indexMarketTable,
  readMarketMeta,
  writeMarketMeta,
} from '../src/db/demo-market.ts';
import { NotFoundError } from '../src/errors.ts';
import { type BadDays, type DaySpoiler, type FeatureColumn, spoilerOf } from './bad-days.ts';
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
    const rows = await copyRows(client, market, 0, market.days, onProgress);
    await indexMarketTable(client);
    await writeMarketMeta(client, market);
    return result(market, rows);
  });
}

/**
 * What an advance may do besides adding days: shift their prices (`shockPct`, recorded, so that
 * later days keep the level), and spoil them (bad days: left-out tickers, null features), which
 * changes those days' rows only.
 */
export type AdvanceOptions = { shockPct?: number | undefined } & BadDays;

/** Appends `days` days, fills the previous newest day's `close_next`, and records any shock. */
export async function advanceMarket(
  pool: pg.Pool,
  days: number,
  options: AdvanceOptions = {},
  onProgress: LoadProgress = () => {},
): Promise<LoadResult> {
  return withClientTransaction(pool, async (client) => {
    const before = await readMeta(client);
    const { shockPct } = options;
    const shocks: Shock[] =
      shockPct === undefined ? [...before.shocks] : [...before.shocks, { day: before.days, pct: shockPct }];
    const market: MarketParams = { ...before, days: before.days + days, shocks };
    if ((options.nullSharePct ?? 0) > 0) await allowNullFeatures(client);
    const rows = await copyRows(client, market, before.days, market.days, onProgress, options);
    // The actuals of the previous newest day arrive with its next day.
    await fillActuals(client, dayOf(before, before.days - 1));
    await writeMarketMeta(client, market);
    return result(market, rows);
  });
}

/** COPYs days [from, to) of the market; the rows written. */
async function copyRows(
  client: pg.PoolClient,
  market: MarketParams,
  from: number,
  to: number,
  onProgress: LoadProgress,
  bad: BadDays = {},
): Promise<number> {
  const total = (to - from) * market.keys;
  const spoilers = new Map<number, DaySpoiler>();
  if ((bad.dropKeysPct ?? 0) > 0 || (bad.nullSharePct ?? 0) > 0) {
    for (let day = from; day < to; day += 1) spoilers.set(day, spoilerOf(market.seed, market.keys, day, bad));
  }
  const written = { rows: 0 };
  await copyMarketRows(client, Readable.from(chunks(market, from, to, total, onProgress, spoilers, written)));
  return written.rows;
}

function* chunks(
  market: MarketParams,
  from: number,
  to: number,
  total: number,
  onProgress: LoadProgress,
  spoilers: ReadonlyMap<number, DaySpoiler>,
  written: { rows: number },
): Generator<string> {
  const plan = planMarket(market, market.days - 1);
  let buffer = '';
  let done = 0;
  for (let index = 0; index < market.keys; index += 1) {
    let day = from;
    for (const row of tickerHistory(plan, index, from, to)) {
      const [today, tomorrow] = [spoilers.get(day), spoilers.get(day + 1)];
      day += 1;
      done += 1;
      if (today?.dropped(index) === true) continue;
      buffer +=
        today === undefined && tomorrow === undefined ? line(row) : spoiledLine(row, index, today, tomorrow);
      written.rows += 1;
    }
    if (buffer.length >= CHUNK_BYTES) {
      yield buffer;
      buffer = '';
      onProgress(done, total);
    }
  }
  if (buffer.length > 0) yield buffer;
  onProgress(done, total);
}

const line = (r: PriceRow) =>
  `${r.ticker}\t${r.day}\t${r.close}\t${r.volume}\t${r.ma5}\t${r.ma20}\t${r.volumeZ}\t${r.closeNext ?? '\\N'}\n`;

/** A row of a bad day: its nulled features as nulls, and no actual when tomorrow lost it. */
function spoiledLine(r: PriceRow, index: number, today?: DaySpoiler, tomorrow?: DaySpoiler): string {
  const value = (column: FeatureColumn) => (today?.nulled(column, index) === true ? '\\N' : r[column]);
  const nextLost = tomorrow !== undefined && (tomorrow.dropped(index) || tomorrow.nulled('close', index));
  return `${r.ticker}\t${r.day}\t${value('close')}\t${value('volume')}\t${value('ma5')}\t${value('ma20')}\t${value('volumeZ')}\t${nextLost ? '\\N' : (r.closeNext ?? '\\N')}\n`;
}

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
