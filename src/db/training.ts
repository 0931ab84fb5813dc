import { sql } from 'kysely';
import type { SufficientStats } from '../model/estimators/types.ts';
import type { Db } from './database.ts';
import { finite, quote, type SourceRef, usableRow } from './source.ts';

/**
 * The training queries. Rows never leave Postgres: it returns moments (avg, covar_pop) of the
 * training rows and the error statistics of a prediction over the holdout rows.
 */

/** Days counted back from the anchor: rows with anchor − from < time ≤ anchor − to. */
export type DayRange = { anchor: string; fromDaysBack: number; toDaysBack: number };

/** The newest time that has a known target: training windows end there. */
export async function trainingAnchor(db: Db, source: SourceRef): Promise<string | null> {
  const result = await sql<{ anchor: string | null }>`
    SELECT max(${sql.raw(quote(source.time))})::text AS anchor
    FROM ${sql.raw(source.table)} WHERE ${sql.raw(finite(quote(source.target)))}`.execute(db);
  return result.rows[0]?.anchor ?? null;
}

function rangePredicate(source: SourceRef, range: DayRange) {
  const time = sql.raw(quote(source.time));
  const anchor = sql`${range.anchor}::${sql.raw(source.timeType)}`;
  return sql`${time} > ${anchor} - make_interval(days => ${range.fromDaysBack}::int)
         AND ${time} <= ${anchor} - make_interval(days => ${range.toDaysBack}::int)`;
}

export type WindowStats = SufficientStats & { skipped: number };

/**
 * Moments of the usable rows in a range, and how many rows with a target were not usable. Two
 * plain queries: aggregates with FILTER clauses over a flag column ran several times slower.
 */
export async function windowStats(db: Db, source: SourceRef, range: DayRange): Promise<WindowStats> {
  const p = source.features.length;
  const x = (j: number) => `${quote(source.features[j] ?? '')}::float8`;
  const y = `${quote(source.target)}::float8`;
  const aggregates: string[] = ['count(*) AS n', `avg(${y}) AS my`];
  for (let j = 0; j < p; j += 1) {
    aggregates.push(`avg(${x(j)}) AS m${j}`, `covar_pop(${x(j)}, ${y}) AS cy${j}`);
    for (let k = j; k < p; k += 1) aggregates.push(`covar_pop(${x(j)}, ${x(k)}) AS c${j}_${k}`);
  }
  const [moments, unusable] = await Promise.all([
    sql<Record<string, number | string | null>>`
      SELECT ${sql.raw(aggregates.join(', '))}
      FROM ${sql.raw(source.table)}
      WHERE ${rangePredicate(source, range)} AND ${sql.raw(usableRow(source))}`.execute(db),
    sql<{ skipped: string }>`
      SELECT count(*) AS skipped FROM ${sql.raw(source.table)}
      WHERE ${rangePredicate(source, range)} AND ${sql.raw(quote(source.target))} IS NOT NULL
        AND NOT coalesce(${sql.raw(usableRow(source))}, false)`.execute(db),
  ]);
  const row = moments.rows[0] ?? {};
  const num = (name: string) => Number(row[name] ?? 0);
  const featureCov = Array.from({ length: p }, (_, j) =>
    Array.from({ length: p }, (_, k) => num(j <= k ? `c${j}_${k}` : `c${k}_${j}`)),
  );
  return {
    n: num('n'),
    skipped: Number(unusable.rows[0]?.skipped ?? 0),
    featureMeans: Array.from({ length: p }, (_, j) => num(`m${j}`)),
    featureCov,
    targetMean: num('my'),
    featureTargetCov: Array.from({ length: p }, (_, j) => num(`cy${j}`)),
  };
}

export type ErrorStats = {
  rows: number;
  mae: number | null;
  rmse: number | null;
  bias: number | null;
  residualP05: number | null;
  residualP95: number | null;
  naive: { mae: number | null; rmse: number | null; bias: number | null };
};

/**
 * Errors (target − prediction) of a prediction and of the naive forecast over the usable rows of
 * a range, with the 5th and 95th residual percentiles that make the estimate's interval.
 */
export async function predictionErrors(
  db: Db,
  source: SourceRef,
  range: DayRange,
  prediction: (columns: string[]) => string,
  naive: (columns: string[]) => string,
): Promise<ErrorStats> {
  const columns = source.features.map((_, j) => `x${j}`);
  const selected = source.features.map((feature, j) => `${quote(feature)}::float8 AS x${j}`).join(', ');
  const result = await sql<Record<string, number | string | null>>`
    SELECT count(*) AS n, avg(abs(r)) AS mae, sqrt(avg(r * r)) AS rmse, avg(r) AS bias,
           percentile_cont(0.05) WITHIN GROUP (ORDER BY r) AS p05,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r) AS p95,
           avg(abs(rn)) AS naive_mae, sqrt(avg(rn * rn)) AS naive_rmse, avg(rn) AS naive_bias
    FROM (
      SELECT y - (${sql.raw(prediction(columns))}) AS r, y - (${sql.raw(naive(columns))}) AS rn
      FROM (
        SELECT ${sql.raw(selected)}, ${sql.raw(quote(source.target))}::float8 AS y
        FROM ${sql.raw(source.table)}
        WHERE ${rangePredicate(source, range)} AND ${sql.raw(usableRow(source))}
      ) s
    ) e`.execute(db);
  const row = result.rows[0] ?? {};
  const value = (name: string) => (row[name] == null ? null : Number(row[name]));
  return {
    rows: Number(row.n ?? 0),
    mae: value('mae'),
    rmse: value('rmse'),
    bias: value('bias'),
    residualP05: value('p05'),
    residualP95: value('p95'),
    naive: { mae: value('naive_mae'), rmse: value('naive_rmse'), bias: value('naive_bias') },
  };
}
