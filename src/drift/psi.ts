import type { PsiBins } from '../db/psi-bins.ts';

/** A share of 0 in a bin counts as this, so that the logarithm stays finite. */
export const PSI_EPSILON = 1e-4;

/**
 * The Population Stability Index of B against A from their counts in the PSI bins
 * (src/db/psi-bins.ts): Σ (pB − pA) · ln(pB / pA) over bins 0…9. Null when a side has no values.
 */
export function psiOf(counts: PsiBins['counts'], countA: number, countB: number): number | null {
  if (countA === 0 || countB === 0) return null;
  let psi = 0;
  for (let bin = 0; bin <= 9; bin += 1) {
    const pa = (counts.a[bin] ?? 0) / countA || PSI_EPSILON;
    const pb = (counts.b[bin] ?? 0) / countB || PSI_EPSILON;
    psi += (pb - pa) * Math.log(pb / pa);
  }
  return psi;
}
