import { sql } from 'kysely';
import type { Db } from './database.ts';
import { partitionName } from './partitions.ts';

/**
 * The statistics of a drift report, computed by Postgres over the two versions' partitions: no
 * version is loaded into Node. Each query returns a handful of numbers.
 */

const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export type SideSummary = {
  count: number;
  mean: number | null;
  std: number | null;
  quantiles: (number | null)[];
};

const both = (a: string, b: string) => sql`
  SELECT 'a'::text AS side, value FROM estimates WHERE version_id = ${a}
  UNION ALL
  SELECT 'b'::text AS side, value FROM estimates WHERE version_id = ${b}`;

/** Count, mean, sample std and quantiles (linear interpolation) of each version's values. */
export async function sideSummaries(
  db: Db,
  a: string,
  b: string,
): Promise<{ a: SideSummary; b: SideSummary }> {
  const { rows } = await sql<{
    side: string;
    n: string;
    mean: number | null;
    std: number | null;
    q: number[] | null;
  }>`
    SELECT side, count(*) AS n, avg(value) AS mean, stddev_samp(value) AS std,
           percentile_cont(${sql.val(QUANTILES)}::float8[]) WITHIN GROUP (ORDER BY value) AS q
    FROM (${both(a, b)}) s GROUP BY side`.execute(db);
  const summary = (side: string): SideSummary => {
    const row = rows.find((r) => r.side === side);
    return {
      count: Number(row?.n ?? 0),
      mean: row?.mean ?? null,
      std: row?.std ?? null,
      quantiles: row?.q ?? QUANTILES.map(() => null),
    };
  };
  return { a: summary('a'), b: summary('b') };
}

export { QUANTILES };

/** A's deciles (the PSI edges, equal ones kept) and each version's count per bin 0…9. */
export async function psiBins(
  db: Db,
  a: string,
  b: string,
): Promise<{ edges: number[]; bins: { side: string; bin: number; n: number }[] }> {
  const { rows } = await sql<{
    edges: number[] | null;
    side: string | null;
    bin: number | null;
    n: string | null;
  }>`
    WITH edges AS (
      SELECT percentile_cont(${sql.val(DECILES)}::float8[]) WITHIN GROUP (ORDER BY value) AS e
      FROM estimates WHERE version_id = ${a}
    )
    SELECT edges.e AS edges, s.side, width_bucket(s.value, edges.e) AS bin, count(*) AS n
    FROM (${both(a, b)}) s, edges
    GROUP BY edges.e, s.side, bin`.execute(db);
  return {
    edges: rows[0]?.edges ?? [],
    bins: rows.map((row) => ({ side: row.side ?? '', bin: Number(row.bin), n: Number(row.n) })),
  };
}

/**
 * The Kolmogorov–Smirnov statistic and the Wasserstein-1 distance, exactly, from the cumulative
 * share of each version at every distinct value (grouped first, so ties move both CDFs at once).
 */
export async function cdfDistances(
  db: Db,
  a: string,
  b: string,
): Promise<{ ks: number | null; wasserstein: number | null }> {
  // One sort of both versions' values: a RANGE frame gives tied values the same cumulative
  // shares, and lead() over tied rows is the value itself, so only the last of a tie contributes
  // its step to the Wasserstein sum.
  const { rows } = await sql<{ ks: number | null; w: number | null }>`
    WITH totals AS (
      SELECT count(*) FILTER (WHERE version_id = ${a}) AS na, count(*) FILTER (WHERE version_id = ${b}) AS nb
      FROM estimates WHERE version_id IN (${a}, ${b})
    ),
    cdf AS (
      SELECT value,
             (count(*) FILTER (WHERE side = 'a') OVER upto)::float8 / nullif(na, 0) AS fa,
             (count(*) FILTER (WHERE side = 'b') OVER upto)::float8 / nullif(nb, 0) AS fb,
             lead(value) OVER (ORDER BY value) AS next
      FROM (${both(a, b)}) s, totals
      WINDOW upto AS (ORDER BY value RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
    SELECT max(abs(fa - fb)) AS ks, coalesce(sum(abs(fa - fb) * (next - value)) FILTER (WHERE next IS NOT NULL), 0) AS w
    FROM cdf`.execute(db);
  return { ks: rows[0]?.ks ?? null, wasserstein: rows[0]?.w ?? null };
}

export type KeyChanges = {
  both: number;
  meanAbsChange: number | null;
  medianAbsRelChange: number | null;
  changedShare: number | null;
  spearman: number | null;
};

/** Per-key change over the keys in both versions, and Spearman's correlation of their ranks. */
export async function keyChanges(db: Db, a: string, b: string, tolerance: number): Promise<KeyChanges> {
  const { rows } = await sql<{
    n: string;
    mac: number | null;
    medrel: number | null;
    changed: number | null;
    spearman: number | null;
  }>`
    SELECT count(*) AS n,
           avg(abs(bv - av)) AS mac,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(bv - av) / greatest(abs(av), 1e-9)) AS medrel,
           avg((abs(bv - av) > ${tolerance}::float8 * greatest(abs(av), 1e-9))::int::float8) AS changed,
           corr(ra, rb) AS spearman
    FROM (
      SELECT a.value AS av, b.value AS bv,
             -- average ranks (ties share the mean of the ranks they span), scaled by 1/n, which
             -- leaves the correlation alone: the first rank of a tie is rank(), its last is
             -- cume_dist() · n, and both come from one sort
             (rank() OVER (ORDER BY a.value)::float8 / count(*) OVER () + cume_dist() OVER (ORDER BY a.value)) / 2 AS ra,
             (rank() OVER (ORDER BY b.value)::float8 / count(*) OVER () + cume_dist() OVER (ORDER BY b.value)) / 2 AS rb
      -- The partitions themselves: their statistics give the join a true size (the parent has
      -- none, and its guess of billions of rows picked a nested loop seven times slower).
      FROM ${sql.table(partitionName(a))} a JOIN ${sql.table(partitionName(b))} b ON b.key = a.key
    ) j`.execute(db);
  const row = rows[0];
  return {
    both: Number(row?.n ?? 0),
    meanAbsChange: row?.mac ?? null,
    medianAbsRelChange: row?.medrel ?? null,
    changedShare: row?.changed ?? null,
    spearman: row?.spearman ?? null,
  };
}
