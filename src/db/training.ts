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
 * Moments of one day of the window (days counted back from the anchor: 0 is the anchor's day):
 * population means and covariances of the features and, last, the target. Rows are grouped by
 * whether they are usable and what their target is (`finite`, `absent`: null, `invalid`: NaN or
 * infinite); groups that are not usable are counted but not used.
 */
export type DayMoments = {
  daysBack: number;
  usable: boolean;
  target: 'finite' | 'absent' | 'invalid';
  n: number;
  means: number[];
  cov: number[][];
};

/**
 * One scan of the training window, grouped by day, usability and target: any split of the window
 * (fit and holdout, whole window) is then combined from these groups without reading the rows
 * again, and so is the share of the window's targets that are missing (an input check).
 */
export async function dailyMoments(db: Db, source: SourceRef, range: DayRange): Promise<DayMoments[]> {
  const variables = [...source.features, source.target];
  const v = variables.length;
  const aggregates: string[] = ['count(*) AS n', ...pairMoments(v)];
  const columns = variables.map((column, j) => `${quote(column)}::float8 AS v${j}`).join(', ');
  const time = quote(source.time);
  const target = quote(source.target);
  // Whole days before the anchor: date arithmetic for dates (cheap), epoch seconds otherwise.
  const daysBack =
    source.timeType === 'date'
      ? sql`(${range.anchor}::date - ${sql.raw(time)})`
      : sql`floor(extract(epoch FROM (${range.anchor}::${sql.raw(source.timeType)}::timestamp - ${sql.raw(time)}::timestamp)) / 86400)::int`;
  const result = await sql<Record<string, number | string | boolean | null>>`
    SELECT days_back, usable, target, ${sql.raw(aggregates.join(', '))}
    FROM (
      SELECT ${daysBack} AS days_back,
             coalesce(${sql.raw(usableRow(source))}, false) AS usable,
             CASE WHEN ${sql.raw(target)} IS NULL THEN 'absent'
                  WHEN ${sql.raw(finite(target))} THEN 'finite' ELSE 'invalid' END AS target,
             ${sql.raw(columns)}
      FROM ${sql.raw(source.table)}
      WHERE ${rangePredicate(source, range)}
    ) r
    GROUP BY days_back, usable, target`.execute(db);
  // Ordered here, not by the query: an ORDER BY on top made the planner sort every row of the
  // window to group them (spilling 130 MB to disk at 2,000,000 rows, 1.5 s more than hashing), as
  // it misjudges how few groups there are.
  return result.rows
    .map((row) => {
      const num = (name: string) => Number(row[name] ?? 0);
      return {
        daysBack: num('days_back'),
        usable: row.usable === true,
        target: row.target as DayMoments['target'],
        n: num('n'),
        means: Array.from({ length: v }, (_, j) => num(`m${j}`)),
        cov: Array.from({ length: v }, (_, j) =>
          Array.from({ length: v }, (_, k) => num(j <= k ? `c${j}_${k}` : `c${k}_${j}`)),
        ),
      };
    })
    .sort(byGroup);
}

const TARGET_ORDER: DayMoments['target'][] = ['absent', 'finite', 'invalid'];

/** Day, then unusable before usable, then target: the order the groups are pooled in, every time. */
function byGroup(a: DayMoments, b: DayMoments): number {
  return (
    a.daysBack - b.daysBack ||
    Number(a.usable) - Number(b.usable) ||
    TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target)
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
  const result = await sql<Record<string, number | string | number[] | null>>`
    SELECT count(*) AS n, avg(abs(r)) AS mae, sqrt(avg(r * r)) AS rmse, avg(r) AS bias,
           percentile_cont(ARRAY[0.05, 0.95]) WITHIN GROUP (ORDER BY r) AS percentiles,
           avg(abs(rn)) AS naive_mae, sqrt(avg(rn * rn)) AS naive_rmse, avg(rn) AS naive_bias
    FROM (
      SELECT y - (${sql.raw(prediction(columns))}) AS r, y - (${sql.raw(naive(columns))}) AS rn
      FROM (
        SELECT ${sql.raw(selected)}, ${sql.raw(quote(source.target))}::float8 AS y
        FROM ${sql.raw(source.table)}
        WHERE ${rangePredicate(source, range)} AND ${sql.raw(usableRow(source))}
      ) s
      -- OFFSET 0 keeps this subquery whole: merged into the aggregate, each residual was computed
      -- once per use (four times for r), and the query took 1.7 s over 1,000,000 rows, not 0.75 s
      OFFSET 0
    ) e`.execute(db);
  const row = result.rows[0] ?? {};
  const value = (name: string) => (row[name] == null ? null : Number(row[name]));
  // one sort for both percentiles
  const percentiles = row.percentiles as number[] | null | undefined;
  return {
    rows: Number(row.n ?? 0),
    mae: value('mae'),
    rmse: value('rmse'),
    bias: value('bias'),
    residualP05: percentiles?.[0] ?? null,
    residualP95: percentiles?.[1] ?? null,
    naive: { mae: value('naive_mae'), rmse: value('naive_rmse'), bias: value('naive_bias') },
  };
}
