import type { Db } from '../db/database.ts';
import {
  applyStatisticsSettings,
  type Distributions,
  distributions,
  type KeyChanges,
  keyChanges,
  QUANTILES,
  type SideSummary,
  type TopMovers,
  topMovers,
} from '../db/drift-stats.ts';
import { ksPValue } from './kolmogorov.ts';

export type { Mover, TopMovers } from '../db/drift-stats.ts';

export const PSI_EPSILON = 1e-4;

type Side = {
  count: number;
  mean: number | null;
  std: number | null;
  quantiles: Record<string, number | null>;
};

/** The figures of a drift report, under the names of fixtures/README.md, at its top level. */
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
};

/**
 * Every figure between a baseline A and a candidate B, computed in Postgres over their partitions,
 * and the `topMoversLimit` keys that moved most each way (none when 0).
 *
 * Two connections share the work: the key join (per-key changes and Spearman's ranks, the longest
 * query) on one; each version's distribution, then the top movers, on the other. Each runs in its
 * own transaction with the statistics' settings. Given a transaction (`db.isTransaction`), which
 * cannot open others, the queries run one after the other on it, and its settings are restored.
 */
export async function driftFigures(
  db: Db,
  a: string,
  b: string,
  changeTolerance: number,
  topMoversLimit = 0,
): Promise<DriftFigures & { topMovers: TopMovers }> {
  let results: [Distributions, KeyChanges, TopMovers];
  if (db.isTransaction) {
    const restore = await applyStatisticsSettings(db);
    results = [
      await distributions(db, a, b),
      await keyChanges(db, a, b, changeTolerance),
      await topMovers(db, a, b, topMoversLimit),
    ];
    await restore();
  } else {
    const tuned = <T>(work: (trx: Db) => Promise<T>) =>
      db.transaction().execute(async (trx) => {
        await applyStatisticsSettings(trx);
        return work(trx);
      });
    const [changes, [sides, movers]] = await Promise.all([
      tuned((trx) => keyChanges(trx, a, b, changeTolerance)),
      tuned(
        async (trx) => [await distributions(trx, a, b), await topMovers(trx, a, b, topMoversLimit)] as const,
      ),
    ]);
    results = [sides, changes, movers];
  }
  const [sides, changes, movers] = results;
  const side = (summary: SideSummary): Side => ({
    count: summary.count,
    mean: summary.mean,
    std: summary.count < 2 ? null : summary.std,
    quantiles: Object.fromEntries(QUANTILES.map((q, i) => [String(q), summary.quantiles[i] ?? null])),
  });
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
    a: side(sides.a),
    b: side(sides.b),
    topMovers: movers,
  };
}

/** PSI = Σ (pB − pA) · ln(pB / pA) over bins 0…9, a share of 0 counted as epsilon. */
function psiOf(counts: { a: number[]; b: number[] }, countA: number, countB: number): number | null {
  if (countA === 0 || countB === 0) return null;
  let psi = 0;
  for (let bin = 0; bin <= 9; bin += 1) {
    const pa = (counts.a[bin] ?? 0) / countA || PSI_EPSILON;
    const pb = (counts.b[bin] ?? 0) / countB || PSI_EPSILON;
    psi += (pb - pa) * Math.log(pb / pa);
  }
  return psi;
}

/** W / std(A): 0 when both are 0, null when only A's std is 0 or undefined. */
function normalized(wasserstein: number | null, stdA: number | null): number | null {
  if (wasserstein === null) return null;
  if (stdA === null || stdA === 0) return wasserstein === 0 && stdA === 0 ? 0 : null;
  return wasserstein / stdA;
}
