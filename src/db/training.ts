import { sql } from 'kysely';
import type { Db } from './database.ts';
import { withLocalSettings } from './local-settings.ts';
import { finite, quote, type SourceRef, timeText, usableRow } from './source.ts';

/**
 * The training queries. Rows never leave Postgres: it returns moments (means, covariances) of the
 * training rows and the error statistics of a prediction over the holdout rows.
 */

/**
 * Runs training's queries in one transaction whose scans are serial and start at the table's first
 * block: no parallel workers (whose partial sums meet in whatever order they finish) and no
 * synchronized scans (which start wherever another scan of the table is). Groups are hashed, never
 * sorted: a sort reorders the rows within a group, and whether the planner sorts or hashes turns on
 * its estimates, which change as statistics do. Float sums then add the rows in the table's order
 * every time, so the same source data gives bit-identical models, estimates and checksums.
 */
export function inStableOrder<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return withLocalSettings(
    db,
    {
      max_parallel_workers_per_gather: '0',
      synchronize_seqscans: 'off',
      enable_sort: 'off',
      // the holdout's residuals sorted for their percentiles in memory, not in temporary files:
      // 1,000,000 of them take about 40 MB (0.09 s less than spilling from the default 4 MB)
      work_mem: '64MB',
    },
    work,
  );
}

/** Days counted back from the anchor: rows with anchor − from < time ≤ anchor − to. */
export type DayRange = { anchor: string; fromDaysBack: number; toDaysBack: number };

/**
 * The newest time that has a known target: training windows end there. Given the source's newest
 * time and how many of its rows have a target (the input checks scan that slice anyway), it is
 * found without scanning the slice again: that time itself, else the newest earlier time with a
 * target, which a (time) index finds at once. Rows past it (only keyless rows can be) go first.
 */
export async function trainingAnchor(
  db: Db,
  source: SourceRef,
  newest?: { time: string; targetRows: number },
): Promise<string | null> {
  const time = sql.raw(quote(source.time));
  const withTarget = sql.raw(finite(quote(source.target)));
  if (newest === undefined) {
    const result = await sql<{ anchor: string | null }>`
      SELECT ${sql.raw(timeText(source, `max(${quote(source.time)})`))} AS anchor
      FROM ${sql.raw(source.table)} WHERE ${withTarget}`.execute(db);
    return result.rows[0]?.anchor ?? null;
  }
  const at = sql`${newest.time}::${sql.raw(source.timeType)}`;
  // coalesce evaluates its subqueries one by one and stops at the first that is not null
  const result = await sql<{ anchor: string | null }>`
    SELECT ${sql.raw(timeText(source, 'found.anchor'))} AS anchor FROM (SELECT coalesce(
      (SELECT max(${time}) FROM ${sql.raw(source.table)} WHERE ${time} > ${at} AND ${withTarget}),
      ${newest.targetRows > 0 ? at : sql`NULL`},
      (SELECT max(${time}) FROM ${sql.raw(source.table)} WHERE ${time} < ${at} AND ${withTarget})
    ) AS anchor) found`.execute(db);
  return result.rows[0]?.anchor ?? null;
}

function rangePredicate(source: SourceRef, range: DayRange) {
  const time = sql.raw(quote(source.time));
  const anchor = sql`${range.anchor}::${sql.raw(source.timeType)}`;
  return sql`${time} > ${anchor} - make_interval(days => ${range.fromDaysBack}::int)
         AND ${time} <= ${anchor} - make_interval(days => ${range.toDaysBack}::int)`;
}

/**
 * Moments of a group of a range's rows: population means and covariances of the features and,
 * last, the target. Rows are grouped by whether they are usable and what their target is
 * (`finite`, `absent`: null, `invalid`: NaN or infinite); groups that are not usable are counted
 * but not used.
 */
export type MomentGroup = {
  usable: boolean;
  target: 'finite' | 'absent' | 'invalid';
  n: number;
  means: number[];
  cov: number[][];
};

/** A model's and naive's predictions as SQL over a row's feature columns, to be measured. */
export type Predictions = {
  model: (columns: string[]) => string;
  naive: (columns: string[]) => string;
};

export type ErrorStats = {
  rows: number;
  mae: number | null;
  rmse: number | null;
  bias: number | null;
  residualP05: number | null;
  residualP95: number | null;
  naive: { mae: number | null; rmse: number | null; bias: number | null };
};

/** What one scan of a range gives: its groups' moments and, when asked, the errors of predictions. */
export type RangeScan = { groups: MomentGroup[]; errors: ErrorStats | undefined };

/**
 * One scan of a range of the window: the moments of its rows grouped by usability and target and,
 * given predictions, their errors (target − prediction) over the usable rows, beside naive's, with
 * the 5th and 95th residual percentiles that make the estimate's interval. Training reads each row
 * of its window once this way: the days before the holdout for the fit, then the holdout days for
 * both their moments and that fit's errors (src/model/train.ts).
 *
 * The groups are hashed (the residuals' percentiles come from an array per group: an ordered-set
 * aggregate would make Postgres sort every row into its group) and ordered here, not by the query:
 * an ORDER BY had the planner sort the rows to group them, spilling 130 MB to disk at 2,000,000.
 * Each row's values and residuals are computed once (OFFSET 0 keeps the subquery whole; merged
 * into the aggregates, a residual was computed once per use, and the holdout's scan took 1.7 s
 * over 1,000,000 rows rather than 0.75 s).
 */
export async function scanRange(
  db: Db,
  source: SourceRef,
  range: DayRange,
  predictions?: Predictions,
): Promise<RangeScan> {
  const variables = [...source.features, source.target];
  const v = variables.length;
  const features = source.features.map((_, j) => `v${j}`);
  const y = `v${v - 1}`;
  const moments = ['count(*) AS n', ...pairMoments(v)];
  const errors =
    predictions === undefined
      ? []
      : [
          'count(r) AS scored, avg(abs(r)) AS mae, sqrt(avg(r * r)) AS rmse, avg(r) AS bias',
          'avg(abs(rn)) AS naive_mae, sqrt(avg(rn * rn)) AS naive_rmse, avg(rn) AS naive_bias',
          'array_agg(r) FILTER (WHERE r IS NOT NULL) AS residuals',
        ];
  const residuals =
    predictions === undefined
      ? ''
      : `, CASE WHEN usable THEN ${y} - (${predictions.model(features)}) END AS r,
           CASE WHEN usable THEN ${y} - (${predictions.naive(features)}) END AS rn`;
  const columns = variables.map((column, j) => `${quote(column)}::float8 AS v${j}`).join(', ');
  const target = quote(source.target);
  const grouped = sql`
    SELECT usable, target, ${sql.raw([...moments, ...errors].join(', '))}
    FROM (
      SELECT *${sql.raw(residuals)}
      FROM (
        SELECT coalesce(${sql.raw(usableRow(source))}, false) AS usable,
               CASE WHEN ${sql.raw(target)} IS NULL THEN 'absent'
                    WHEN ${sql.raw(finite(target))} THEN 'finite' ELSE 'invalid' END AS target,
               ${sql.raw(columns)}
        FROM ${sql.raw(source.table)}
        WHERE ${rangePredicate(source, range)}
      ) s
      OFFSET 0
    ) e
    GROUP BY usable, target`;
  // the residuals' array stays in Postgres: only its two percentiles come back (one sort for both)
  const outputs = [
    'usable',
    'target',
    'n',
    ...moments.slice(1).map((aggregate) => aggregate.split(' AS ')[1]),
  ];
  const result = await (predictions === undefined
    ? grouped
    : sql`
        SELECT ${sql.raw([...outputs, 'scored', 'mae', 'rmse', 'bias', 'naive_mae', 'naive_rmse', 'naive_bias'].map((name) => `g.${name}`).join(', '))},
               (SELECT percentile_cont(ARRAY[0.05, 0.95]) WITHIN GROUP (ORDER BY r) FROM unnest(g.residuals) r)
                 AS percentiles
        FROM (${grouped}) g`
  ).execute(db);
  const rows = result.rows as Record<string, number | string | boolean | number[] | null>[];
  const groups = rows
    .map((row) => {
      const num = (name: string) => Number(row[name] ?? 0);
      return {
        usable: row.usable === true,
        target: row.target as MomentGroup['target'],
        n: num('n'),
        means: Array.from({ length: v }, (_, j) => num(`m${j}`)),
        cov: Array.from({ length: v }, (_, j) =>
          Array.from({ length: v }, (_, k) => num(j <= k ? `c${j}_${k}` : `c${k}_${j}`)),
        ),
      };
    })
    .sort(byGroup);
  if (predictions === undefined) return { groups, errors: undefined };
  // only usable rows have residuals, and they are one group
  const row = rows.find((candidate) => candidate.usable === true) ?? {};
  const value = (name: string) => (row[name] == null ? null : Number(row[name]));
  const percentiles = row.percentiles as number[] | null | undefined;
  return {
    groups,
    errors: {
      rows: Number(row.scored ?? 0),
      mae: value('mae'),
      rmse: value('rmse'),
      bias: value('bias'),
      residualP05: percentiles?.[0] ?? null,
      residualP95: percentiles?.[1] ?? null,
      naive: { mae: value('naive_mae'), rmse: value('naive_rmse'), bias: value('naive_bias') },
    },
  };
}

const TARGET_ORDER: MomentGroup['target'][] = ['absent', 'finite', 'invalid'];

/** Unusable before usable, then by target: the order the groups are pooled in, every time. */
function byGroup(a: MomentGroup, b: MomentGroup): number {
  return (
    Number(a.usable) - Number(b.usable) || TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target)
  );
}

/**
 * The means (m{j}) and population covariances (c{j}_{k}, j ≤ k) of `v` ≥ 2 variables v0…v{v−1},
 * from one running state per pair of variables. Every regr_* aggregate and covar_pop keeps the
 * same state (count, sums, sums of squares and cross products) and Postgres keeps one state for
 * all the aggregates of the same pair, so each variable's mean and variance are read from a pair's
 * state it is in rather than kept by two more: v(v−1)/2 states a row instead of v(v+3)/2. The
 * figures are bit for bit what avg and covar_pop(x, x) gave (the same sums in the same order),
 * for rows where no variable is null, the only rows whose moments are used; the scan took 0.6 s
 * less over 2,000,000 rows of five variables.
 */
function pairMoments(v: number): string[] {
  const aggregates: string[] = [];
  for (let j = 0; j < v; j += 1) {
    // regr_*(y, x): the variable is y in its pair with the next one, x in the last one's pair
    const [pair, side] = j + 1 < v ? [`v${j}, v${j + 1}`, 'y'] : [`v${j - 1}, v${j}`, 'x'];
    aggregates.push(`regr_avg${side}(${pair}) AS m${j}`);
    aggregates.push(`regr_s${side}${side}(${pair}) / regr_count(${pair}) AS c${j}_${j}`);
    for (let k = j + 1; k < v; k += 1) aggregates.push(`covar_pop(v${j}, v${k}) AS c${j}_${k}`);
  }
  return aggregates;
}
