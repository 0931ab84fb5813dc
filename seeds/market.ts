/**
 * The demo market: a deterministic, learnable stock market.
 *
 * Each ticker's history is a pure function of (seed, ticker index, shocks), drawn from its own
 * random stream, so the same arguments give the same bytes and `--days D` then `--advance K`
 * gives exactly what `--days D+K` gives.
 *
 * Tomorrow's return depends on today's features: partial mean reversion toward `ma_20`, and
 * momentum (close against `ma_5`) that grows with `volume_z`. A linear model of `close_next` on
 * (close, ma_5, ma_20, volume_z) therefore beats the naive "tomorrow = today" forecast, which it
 * could not do on a pure random walk.
 */

export type Shock = {
  /** index of the first shocked day */ day: number /** percent jump of every price */;
  pct: number;
};

export type MarketParams = {
  seed: number;
  keys: number;
  /** first day, YYYY-MM-DD */
  start: string;
  /** days in the table now */
  days: number;
  shocks: readonly Shock[];
};

export type PriceRow = {
  ticker: string;
  day: string;
  close: number;
  volume: number;
  ma5: number;
  ma20: number;
  volumeZ: number;
  closeNext: number | null;
};

export const MAX_KEYS = 5_000_000;
const BURN_IN_DAYS = 20;
const REVERSION = 0.25;
const MOMENTUM = 0.15;
const VOLUME_AR = 0.6;

/** Tickers look random but are a bijection of the index: 5 letters, unique up to 26^5 keys. */
export function tickerName(index: number): string {
  const space = 26 ** 5;
  let code = (index * 7919 + 12345) % space;
  let name = '';
  for (let i = 0; i < 5; i += 1) {
    name = String.fromCharCode(65 + (code % 26)) + name;
    code = Math.floor(code / 26);
  }
  return name;
}

/** Adds `offset` days to a YYYY-MM-DD date, in UTC. */
export function addDays(start: string, offset: number): string {
  const date = new Date(`${start}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + offset);
  return date.toISOString().slice(0, 10);
}

/** mulberry32 over a seed mixed from (seed, index): small, fast and identical on every platform. */
export function randomStream(seed: number, index: number): () => number {
  let state = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(uniform: () => number): number {
  const u = 1 - uniform(); // (0, 1]: log(0) cannot happen
  const v = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const round = (value: number, places: number) => {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
};

/** What every ticker shares for one load: day names and shocks by day, computed once. */
export type MarketPlan = { seed: number; days: readonly string[]; shockLog: Float64Array };

export function planMarket(
  params: Pick<MarketParams, 'seed' | 'start' | 'shocks'>,
  lastDay: number,
): MarketPlan {
  const days = Array.from({ length: lastDay + 1 }, (_, t) => addDays(params.start, t));
  const shockLog = new Float64Array(lastDay + 2);
  for (const shock of params.shocks) {
    if (shock.day <= lastDay + 1)
      shockLog[shock.day] = (shockLog[shock.day] ?? 0) + Math.log1p(shock.pct / 100);
  }
  return { seed: params.seed, days, shockLog };
}

/**
 * One ticker's rows for days [from, to) of a market whose newest day is the plan's last (its
 * `closeNext` is null: tomorrow is not known yet). The history is replayed from the burn-in, so a
 * call never depends on rows written before.
 */
export function* tickerHistory(
  plan: MarketPlan,
  index: number,
  from: number,
  to: number,
): Generator<PriceRow> {
  const lastDay = plan.days.length - 1;
  const uniform = randomStream(plan.seed, index);
  const ticker = tickerName(index);
  const drift = (uniform() - 0.5) * 0.002;
  const volatility = 0.008 + 0.017 * uniform();
  const baseVolume = Math.exp(Math.log(1e5) + uniform() * Math.log(100));
  let close = round(Math.exp(Math.log(20) + uniform() * Math.log(25)), 2);
  let z = normal(uniform);
  // The last 20 closes in a ring; both averages are summed afresh each day so that no rounding
  // error accumulates along the series.
  const ring = new Float64Array(20);
  ring[0] = close;
  let count = 1;
  let gap = 0;
  let momentum = 0;
  const end = Math.min(to, lastDay + 1);
  let previous: Omit<PriceRow, 'closeNext'> | undefined;

  for (let t = -BURN_IN_DAYS; t < end + 1; t += 1) {
    const boost = 1 + Math.max(z, 0);
    const ret = drift + REVERSION * gap + MOMENTUM * momentum * boost + volatility * normal(uniform);
    z = VOLUME_AR * z + Math.sqrt(1 - VOLUME_AR ** 2) * normal(uniform);
    const shock = t >= 0 ? (plan.shockLog[t] ?? 0) : 0;
    close = Math.max(0.01, round(close * Math.exp(ret + shock), 2));
    ring[count % 20] = close;
    count += 1;
    let sum5 = 0;
    let sum20 = 0;
    const n20 = Math.min(count, 20);
    for (let i = 1; i <= n20; i += 1) {
      const value = ring[(count - i) % 20] ?? 0;
      if (i <= 5) sum5 += value;
      sum20 += value;
    }
    const ma5 = sum5 / Math.min(count, 5);
    const ma20 = sum20 / n20;
    gap = Math.log(ma20 / close);
    momentum = Math.log(close / ma5);

    if (previous !== undefined && t - 1 >= from) {
      yield { ...previous, closeNext: t - 1 === lastDay ? null : close };
    }
    if (t > lastDay) break;
    if (t >= from) {
      previous = {
        ticker,
        day: plan.days[t] ?? '',
        close,
        volume: Math.round(baseVolume * Math.exp(0.5 * z)),
        ma5: round(ma5, 4),
        ma20: round(ma20, 4),
        volumeZ: round(z, 4),
      };
    }
  }
}
