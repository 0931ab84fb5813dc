import { type RawBuilder, sql } from 'kysely';

/**
 * Values sorted into one array, the form every distribution statistic reads them in: quantiles
 * and PSI bins are then positions in the array, computed without sorting again.
 */

/**
 * The values of `from` (a FROM item with a float8 column `value`) sorted into one array `s`,
 * with their count `n`, mean and sample std, and any `also` (aggregates over the same rows).
 */
export const sortedValues = (from: RawBuilder<unknown>, also: RawBuilder<unknown> = sql``) => sql`
  SELECT coalesce(array_agg(value ORDER BY value), '{}') AS s, count(*) AS n, avg(value) AS mean,
         stddev_samp(value) AS std ${also}
  FROM ${from}`;

/**
 * `percentile_cont`'s linear interpolation, for each fraction, over `s`, a sorted float8[] of `n`
 * values: the same arithmetic on the order statistics at floor and ceil of q · (n − 1).
 */
export const interpolated = (s: string, n: string, fractions: number[]) => {
  const [values, count] = [sql.raw(s), sql.raw(n)];
  return sql`(
    SELECT array_agg(CASE WHEN lo = hi THEN ${values}[lo + 1]
                          ELSE ${values}[lo + 1] + (p - lo) * (${values}[hi + 1] - ${values}[lo + 1]) END
                     ORDER BY k)
    FROM (SELECT p, floor(p)::int AS lo, ceil(p)::int AS hi, k
          FROM unnest(${sql.val(fractions)}::float8[]) WITH ORDINALITY AS f(q, k),
               LATERAL (SELECT q * (${count} - 1)::float8 AS p) scaled) points
    WHERE ${count} > 0)`;
};
