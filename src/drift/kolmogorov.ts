/**
 * The survival function of the Kolmogorov distribution, Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²}
 * (scipy's `special.kolmogorov`), Q(0) = 1. For small λ the alternating series converges too
 * slowly; its Jacobi-theta twin, 1 − (√(2π)/λ) Σ_{k≥1} e^{−(2k−1)²π²/(8λ²)}, converges fast there.
 */
export function kolmogorovSurvival(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    const factor = -(Math.PI ** 2) / (8 * lambda * lambda);
    let sum = 0;
    for (let k = 1; k < 20; k += 1) sum += Math.exp(factor * (2 * k - 1) ** 2);
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * sum));
  }
  let sum = 0;
  for (let k = 1; k < 100; k += 1) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-18) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** The asymptotic p-value of a two-sample KS statistic D between samples of n and m values. */
export function ksPValue(d: number, n: number, m: number): number | null {
  if (n === 0 || m === 0) return null;
  return kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * d);
}
