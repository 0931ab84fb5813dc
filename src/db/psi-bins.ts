import { sql } from 'kysely';
import { interpolated } from './sorted-values.ts';

/**
 * The bins of the Population Stability Index (test/fixtures/README.md): the inner edges are A's
 * deciles (equal ones kept), and a value's bin is how many edges are ≤ it (0…9). One rule for
 * the drift report (two versions' estimates) and the input checks (a feature in two slices of
 * the source); the index itself is computed from the counts (src/drift/psi.ts).
 */

/** The fractions of A's values at which its bins' inner edges are. */
export const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export type PsiBins = {
  /** A's deciles, the inner edges (equal ones kept); empty when A has no values */
  edges: number[];
  /** each side's count of values in bins 0…9 */
  counts: { a: number[]; b: number[] };
};

/**
 * The CTEs `edges` (A's deciles) and `below` (how many values of each side lie strictly below each
 * edge: a binary search in its array) over the CTEs `sa` and `sb`, each one row of sortedValues.
 * The query that holds them is WITH RECURSIVE and selects `psiBinColumns`.
 */
export const psiBinCtes = sql`
    edges AS MATERIALIZED (SELECT ${interpolated('sa.s', 'sa.n', DECILES)} AS cuts FROM sa),
    below(side, k, cut, lo, hi) AS (
      SELECT sides.side, x.k, x.cut, 0::bigint, sides.n
      FROM edges, unnest(edges.cuts) WITH ORDINALITY AS x(cut, k),
           (SELECT 'a' AS side, n FROM sa UNION ALL SELECT 'b', n FROM sb) sides
      UNION ALL
      SELECT side, k, cut, CASE WHEN under THEN mid ELSE lo END, CASE WHEN under THEN hi ELSE mid - 1 END
      FROM (
        SELECT side, k, cut, lo, hi, mid,
               (CASE side WHEN 'a' THEN (SELECT s FROM sa) ELSE (SELECT s FROM sb) END)[mid] < cut AS under
        FROM (SELECT *, (lo + hi + 1) / 2 AS mid FROM below WHERE lo < hi) halves
      ) probes
    )`;

export const psiBinColumns = sql`(SELECT cuts FROM edges) AS edges,
           (SELECT array_agg(lo ORDER BY k) FROM below WHERE side = 'a' AND lo = hi) AS below_a,
           (SELECT array_agg(lo ORDER BY k) FROM below WHERE side = 'b' AND lo = hi) AS below_b`;

export type PsiBinColumns = { edges: number[] | null; below_a: string[] | null; below_b: string[] | null };

/** The bins from psiBinColumns and each side's count of values. */
export function psiBinsOf(row: PsiBinColumns | undefined, countA: number, countB: number): PsiBins {
  // bin 0 holds the values below the first edge, bin j those from edge j to below edge j + 1
  const counts = (below: string[] | null | undefined, count: number) => {
    const cumulative = [0, ...(below ?? DECILES.map(() => '0')).map(Number), count];
    return cumulative.slice(1).map((upTo, bin) => upTo - (cumulative[bin] ?? 0));
  };
  return {
    edges: row?.edges ?? [],
    counts: { a: counts(row?.below_a, countA), b: counts(row?.below_b, countB) },
  };
}
