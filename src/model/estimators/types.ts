import type { z } from 'zod';

/**
 * Centered sufficient statistics of training rows, aggregated in Postgres (population moments),
 * so training never pulls rows into Node.
 */
export type SufficientStats = {
  n: number;
  featureMeans: number[];
  /** covar_pop of every pair of features; the diagonal is var_pop */
  featureCov: number[][];
  targetMean: number;
  /** covar_pop of each feature with the target */
  featureTargetCov: number[];
};

/** Residual percentiles added to an estimate to give its interval. */
export type Interval = { lower: number; upper: number };

/** A fitted model as JSON: on its own it reproduces every prediction. */
export type Artifact = { estimator: string; features: string[]; interval: Interval } & Record<
  string,
  unknown
>;

/** A linear SQL expression over the feature columns, for measuring a fit on holdout rows in SQL. */
export type SqlExpression = string;

export interface Estimator<P = unknown, A extends Artifact = Artifact> {
  readonly needsSource: boolean;
  readonly params: z.ZodType<P>;
  /** Fits from sufficient statistics; the interval is filled in later from holdout residuals. */
  fit(input: { params: P; features: string[]; stats: SufficientStats }): A;
  /** One prediction from one row of features (in the artifact's feature order). */
  predict(artifact: A, features: ArrayLike<number>): number;
  /** The same prediction as SQL, given an SQL reference (already quoted, float8) per feature. */
  predictSql(artifact: A, columns: readonly SqlExpression[]): SqlExpression;
}

/** A float as an exact SQL float8 literal (JS's shortest round-trip form reads back identically). */
export function floatLiteral(value: number): SqlExpression {
  if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as an SQL literal`);
  return `(${String(value)})::float8`;
}
