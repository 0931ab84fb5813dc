import { randomStream } from './market.ts';

/**
 * Bad source days, made on purpose (`almanac seed --advance K --drop-keys PCT --null-share PCT`) to
 * trip a model's input checks: on each advanced day some tickers are left out, and some of each
 * feature's values are null. Which ones is drawn from the market's seed and the day, so the same
 * arguments spoil the same rows; each time exactly round(PCT %) of the tickers, or of the values.
 */

export type BadDays = {
  /** percent of the tickers left out of each advanced day */
  dropKeysPct?: number | undefined;
  /** percent of each feature's values made null on each advanced day */
  nullSharePct?: number | undefined;
};

/** The price table's columns a model may take as features: what --null-share makes null. */
export const FEATURE_COLUMNS = ['close', 'volume', 'ma5', 'ma20', 'volumeZ'] as const;
export type FeatureColumn = (typeof FEATURE_COLUMNS)[number];

export type DaySpoiler = {
  dropped: (index: number) => boolean;
  nulled: (column: FeatureColumn, index: number) => boolean;
};

/**
 * What `bad` does to the tickers of one day (its index from the market's start). The day's
 * tickers are put in an order drawn from the seed: the affine permutation i ↦ (i · stride +
 * offset) mod keys, whose stride is prime to keys (exact, and no memory whatever the number of
 * keys). The first round(PCT % of them) are left out; of the rest, each feature nulls
 * round(PCT % of them), a stretch of that order starting at a place of its own.
 */
export function spoilerOf(seed: number, keys: number, day: number, bad: BadDays): DaySpoiler {
  // a stream of its own, apart from the tickers' price streams (which use the seed as it is)
  const uniform = randomStream(seed ^ 0x5bd1e995, day);
  let stride = 1 + Math.floor(uniform() * keys);
  while (gcd(stride, keys) !== 1) stride += 1;
  const offset = Math.floor(uniform() * keys);
  const place = (index: number) => (index * stride + offset) % keys;

  const droppedCount = Math.round((keys * (bad.dropKeysPct ?? 0)) / 100);
  const kept = keys - droppedCount;
  const nulledCount = Math.round((kept * (bad.nullSharePct ?? 0)) / 100);
  const starts = Object.fromEntries(
    FEATURE_COLUMNS.map((column) => [column, Math.floor(uniform() * kept)]),
  ) as Record<FeatureColumn, number>;
  return {
    dropped: (index) => place(index) < droppedCount,
    nulled: (column, index) => {
      const at = place(index) - droppedCount;
      return at >= 0 && (at + starts[column]) % kept < nulledCount;
    },
  };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
