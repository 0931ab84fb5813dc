/** Dense symmetric positive-definite solves, for normal equations of a handful of features. */

export type Matrix = number[][];

/** Solves A x = b for symmetric positive-definite A by Cholesky (A = L Lᵀ); throws when A is not SPD. */
export function choleskySolve(a: Matrix, b: readonly number[]): number[] {
  const n = b.length;
  const l: Matrix = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const at = (m: Matrix, i: number, j: number) => m[i]?.[j] ?? 0;
  for (let i = 0; i < n; i += 1) {
    for (let j = 0; j <= i; j += 1) {
      let sum = at(a, i, j);
      for (let k = 0; k < j; k += 1) sum -= at(l, i, k) * at(l, j, k);
      if (i === j) {
        // Relative tolerance: a pivot this small means the features are (nearly) collinear.
        if (!(sum > 1e-12 * Math.max(1, Math.abs(at(a, i, i))))) {
          throw new SingularMatrixError(i);
        }
        (l[i] as number[])[i] = Math.sqrt(sum);
      } else {
        (l[i] as number[])[j] = sum / at(l, j, j);
      }
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i += 1) {
    let sum = b[i] ?? 0;
    for (let k = 0; k < i; k += 1) sum -= at(l, i, k) * (y[k] ?? 0);
    y[i] = sum / at(l, i, i);
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i -= 1) {
    let sum = y[i] ?? 0;
    for (let k = i + 1; k < n; k += 1) sum -= at(l, k, i) * (x[k] ?? 0);
    x[i] = sum / at(l, i, i);
  }
  return x;
}

export class SingularMatrixError extends Error {
  override name = 'SingularMatrixError';
  readonly column: number;
  constructor(column: number) {
    super(`matrix is singular at column ${column}`);
    this.column = column;
  }
}
