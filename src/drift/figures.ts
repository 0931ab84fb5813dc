import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { cdfDistances, keyChanges, psiBins, QUANTILES, sideSummaries } from '../db/drift-stats.ts';
import { ksPValue } from './kolmogorov.ts';

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

/** Every figure between a baseline A and a candidate B, computed in Postgres over their partitions. */
export async function driftFigures(
  db: Db,
  a: string,
  b: string,
  changeTolerance: number,
): Promise<DriftFigures> {
  // Every statistic sorts a million values or more: with the default work_mem those sorts spill
  // to disk. Each query gets more memory for its own transaction only.
  // Inside a transaction (the gate of an import) they run one after the other on it.
  if (db.isTransaction) await sql`SET LOCAL work_mem = '256MB'`.execute(db);
  const withMemory = <T>(work: (trx: Db) => Promise<T>) =>
    db.isTransaction
      ? work(db)
      : db.transaction().execute(async (trx) => {
          await sql`SET LOCAL work_mem = '256MB'`.execute(trx);
          return work(trx);
        });
  const [sides, bins, distances, changes] = await Promise.all([
    withMemory((trx) => sideSummaries(trx, a, b)),
    withMemory((trx) => psiBins(trx, a, b)),
    withMemory((trx) => cdfDistances(trx, a, b)),
    withMemory((trx) => keyChanges(trx, a, b, changeTolerance)),
  ]);
  const side = (summary: typeof sides.a): Side => ({
    count: summary.count,
    mean: summary.mean,
    std: summary.count < 2 ? null : summary.std,
    quantiles: Object.fromEntries(QUANTILES.map((q, i) => [String(q), summary.quantiles[i] ?? null])),
  });
  const stdA = sides.a.count < 2 ? null : sides.a.std;
  return {
    psi: psiOf(bins.bins, sides.a.count, sides.b.count),
    psiEdges: bins.edges,
    ksStatistic: distances.ks,
    ksPValue: distances.ks === null ? null : ksPValue(distances.ks, sides.a.count, sides.b.count),
    wasserstein: distances.wasserstein,
    wassersteinNorm: normalized(distances.wasserstein, stdA),
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
  };
}

/** PSI = Σ (pB − pA) · ln(pB / pA) over bins 0…9, a share of 0 counted as epsilon. */
function psiOf(
  bins: { side: string; bin: number; n: number }[],
  countA: number,
  countB: number,
): number | null {
  if (countA === 0 || countB === 0) return null;
  let psi = 0;
  for (let bin = 0; bin <= 9; bin += 1) {
    const share = (side: string, count: number) =>
      (bins.find((entry) => entry.side === side && entry.bin === bin)?.n ?? 0) / count || PSI_EPSILON;
    const pa = share('a', countA);
    const pb = share('b', countB);
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
