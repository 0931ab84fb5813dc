import type { Db } from '../db/database.ts';
import {
  type Distributions,
  distributions,
  type KeyChanges,
  keyChanges,
  QUANTILES,
  type SideSummary,
  type TopMovers,
  topMovers,
  versionSummary,
  withStatisticsSettings,
} from '../db/drift-stats.ts';
import { ksPValue } from './kolmogorov.ts';
import { psiOf } from './psi.ts';

export type { Mover, TopMovers } from '../db/drift-stats.ts';

type Side = {
  count: number;
  mean: number | null;
  std: number | null;
  quantiles: Record<string, number | null>;
};

/** The figures of a drift report, under the names of test/fixtures/README.md, at its top level. */
export type DriftFigures = {
  psi: number | null;
  psiEdges: number[];
  ksStatistic: number | null;
  ksPValue: number | null;
  wasserstein: number | null;
  wassersteinNorm: number | null;
  meanAbsChange: number | null;
  medianAbsRelChange: number | null;
  changedShare: number | null;
  spearman: number | null;
  coverage: { both: number; removed: number; added: number };
  a: Side;
  b: Side;
  /**
   * What the charts of a report draw, kept with it so that a page never reads a version again:
   * each version's count in the PSI bins (null without a baseline), each version's value at every
   * percentile of its CDF (CDF_SHARES; empty without values), and where the KS gap is largest.
   */
  psiCounts: { a: number[]; b: number[] } | null;
  cdf: { a: number[]; b: number[] };
  ksAt: number | null;
};

export type FigureOptions = {
  /** how many keys that moved most each way to list (none when 0) */
  topMovers?: number;
  /**
   * true when `db` is a transaction the caller goes on with (the publish gate's): the queries then
   * run one after the other on it, in a savepoint that leaves its settings as they were. Otherwise they run
   * side by side, each in a transaction of its own.
   */
  inTransaction?: boolean;
  /** each query's statement timeout: an API request's report gives up, a gate's never does */
  timeoutMs?: number | undefined;
};

/**
 * Every figure between a baseline A and a candidate B, computed in Postgres over their partitions,
 * and the keys that moved most each way.
 *
 * Side by side, two connections share the work: the key join (per-key changes and Spearman's
 * ranks, the longest query) on one; each version's distribution, then the top movers, on the other.
 */
export async function driftFigures(
  db: Db,
  a: string,
  b: string,
  changeTolerance: number,
  options: FigureOptions = {},
): Promise<DriftFigures & { topMovers: TopMovers }> {
  const limit = options.topMovers ?? 0;
  let results: [Distributions, KeyChanges, TopMovers];
  if (options.inTransaction === true) {
    // one connection: the queries one after the other
    results = await withStatisticsSettings(db, true, options.timeoutMs, async (trx) => [
      await distributions(trx, a, b),
      await keyChanges(trx, a, b, changeTolerance),
      await topMovers(trx, a, b, limit),
    ]);
  } else {
    const tuned = <T>(work: (trx: Db) => Promise<T>) =>
      withStatisticsSettings(db, false, options.timeoutMs, work);
    const [changes, [sides, movers]] = await Promise.all([
      tuned((trx) => keyChanges(trx, a, b, changeTolerance)),
      tuned(async (trx) => [await distributions(trx, a, b), await topMovers(trx, a, b, limit)] as const),
    ]);
    results = [sides, changes, movers];
  }
  const [sides, changes, movers] = results;
  const stdA = sides.a.count < 2 ? null : sides.a.std;
  return {
    psi: psiOf(sides.psiCounts, sides.a.count, sides.b.count),
    psiEdges: sides.psiEdges,
    ksStatistic: sides.ks,
    ksPValue: sides.ks === null ? null : ksPValue(sides.ks, sides.a.count, sides.b.count),
    wasserstein: sides.wasserstein,
    wassersteinNorm: normalized(sides.wasserstein, stdA),
    meanAbsChange: changes.meanAbsChange,
    medianAbsRelChange: changes.medianAbsRelChange,
    changedShare: changes.changedShare,
    spearman: changes.spearman,
    coverage: {
      both: changes.both,
      removed: sides.a.count - changes.both,
      added: sides.b.count - changes.both,
    },
    a: sideOf(sides.a),
    b: sideOf(sides.b),
    psiCounts: sides.psiCounts,
    cdf: { a: sides.a.cdf, b: sides.b.cdf },
    ksAt: sides.ksAt,
    topMovers: movers,
  };
}

/**
 * A model's first version: nothing to compare it with, so every comparing figure is null and A is
 * empty; B is described as usual, by its summary when the caller has read it already.
 */
export async function candidateFigures(
  db: Db,
  b: string,
  known?: Promise<SideSummary> | undefined,
): Promise<DriftFigures> {
  const summary = await (known ?? versionSummary(db, b));
  return {
    psi: null,
    psiEdges: [],
    ksStatistic: null,
    ksPValue: null,
    wasserstein: null,
    wassersteinNorm: null,
    meanAbsChange: null,
    medianAbsRelChange: null,
    changedShare: null,
    spearman: null,
    coverage: { both: 0, removed: 0, added: summary.count },
    a: sideOf({ count: 0, mean: null, std: null, quantiles: [], cdf: [] }),
    b: sideOf(summary),
    psiCounts: null,
    cdf: { a: [], b: summary.cdf },
    ksAt: null,
  };
}

/** A version's side of the report: std only from 2 values; quantiles keyed by their fraction. */
function sideOf(summary: SideSummary): Side {
  return {
    count: summary.count,
    mean: summary.mean,
    std: summary.count < 2 ? null : summary.std,
    quantiles: Object.fromEntries(QUANTILES.map((q, i) => [String(q), summary.quantiles[i] ?? null])),
  };
}

/** W / std(A): 0 when both are 0, null when only A's std is 0 or undefined. */
function normalized(wasserstein: number | null, stdA: number | null): number | null {
  if (wasserstein === null) return null;
  if (stdA === null || stdA === 0) return wasserstein === 0 && stdA === 0 ? 0 : null;
  return wasserstein / stdA;
}
