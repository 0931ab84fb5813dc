import type { DayMoments } from '../db/training.ts';
import type { SufficientStats } from './estimators/types.ts';

/**
 * Pools the moments of several groups into those of their union (Chan et al.): the co-moment
 * matrix is the sum of the groups' plus each group's mean offset, so no cancellation creeps in.
 * The last variable of the groups is the target.
 */
export function poolMoments(groups: readonly DayMoments[]): SufficientStats {
  const used = groups.filter((group) => group.usable && group.n > 0);
  const v = used[0]?.means.length ?? 0;
  const n = used.reduce((sum, group) => sum + group.n, 0);
  const means = Array.from({ length: v }, (_, j) =>
    n === 0 ? 0 : used.reduce((sum, group) => sum + group.n * (group.means[j] ?? 0), 0) / n,
  );
  const cov = Array.from({ length: v }, (_, j) =>
    Array.from({ length: v }, (_, k) => {
      if (n === 0) return 0;
      let comoment = 0;
      for (const group of used) {
        const dj = (group.means[j] ?? 0) - (means[j] ?? 0);
        const dk = (group.means[k] ?? 0) - (means[k] ?? 0);
        comoment += group.n * ((group.cov[j]?.[k] ?? 0) + dj * dk);
      }
      return comoment / n;
    }),
  );
  const p = v - 1;
  return {
    n,
    featureMeans: means.slice(0, p),
    featureCov: cov.slice(0, p).map((row) => row.slice(0, p)),
    targetMean: means[p] ?? 0,
    featureTargetCov: cov.slice(0, p).map((row) => row[p] ?? 0),
  };
}

/** Rows that had a target but a null or non-finite value. */
export function unusableRows(groups: readonly DayMoments[]): number {
  return rowsOf(groups.filter((group) => !group.usable && group.target !== 'absent'));
}

/** The share of the rows whose target is null or not finite; null without rows. */
export function missingTargetShare(groups: readonly DayMoments[]): number | null {
  const rows = rowsOf(groups);
  return rows === 0 ? null : rowsOf(groups.filter((group) => group.target !== 'finite')) / rows;
}

const rowsOf = (groups: readonly DayMoments[]) => groups.reduce((sum, group) => sum + group.n, 0);
