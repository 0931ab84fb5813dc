import { type RawBuilder, sql } from 'kysely';
import type { Db } from './database.ts';
import { withLocalSettings } from './local-settings.ts';
import { asPruned, checksumOf, partitionName, ROW_HASH } from './partitions.ts';
import { type PsiBinColumns, psiBinColumns, psiBinCtes, psiBinsOf } from './psi-bins.ts';
import { interpolated, sortedValues } from './sorted-values.ts';

/**
 * The statistics of a drift report, computed by Postgres over the two versions' partitions: no
 * version is loaded into Node. Each query returns a handful of numbers.
 *
 * Two queries carry the report, so that they can run side by side on two connections: one over
 * each version's values on its own (`distributions`), one over the keys the versions share
 * (`keyChanges`). `topMovers` joins the keys again and goes beside `distributions`, the shorter one.
 */

const QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
/** The shares at which a version's CDF is kept for charts: every percentile, 0 to 1. */
export const CDF_SHARES = Array.from({ length: 101 }, (_, i) => i / 100);

export { QUANTILES };

export type SideSummary = {
  count: number;
  mean: number | null;
  std: number | null;
  quantiles: (number | null)[];
  /** the value at each of CDF_SHARES (empty without values): the version's CDF, for charts */
  cdf: number[];
};

/**
 * Settings for the statistics' queries: every one of them sorts a million values or more (spilled
 * to disk under the default work_mem); the report's two queries already take both cores, so no
 * parallel workers (whatever a connection's options allow); and the joins on key go through the
 * partitions' primary keys (a merge join, twice as fast as hashing a million keys).
 */
const STATISTICS_SETTINGS = {
  work_mem: '256MB',
  max_parallel_workers_per_gather: '0',
  enable_hashjoin: 'off',
};

/**
 * Runs statistics' queries under those settings, each under `timeoutMs` when given: in a
 * transaction of their own, or in the caller's (`callersTransaction`: the publish gate's), which
 * they leave as it was. A version pruned meanwhile is a GoneError.
 */
export function withStatisticsSettings<T>(
  db: Db,
  callersTransaction: boolean,
  timeoutMs: number | undefined,
  work: (db: Db) => Promise<T>,
): Promise<T> {
  const settings =
    timeoutMs === undefined
      ? STATISTICS_SETTINGS
      : { ...STATISTICS_SETTINGS, statement_timeout: `${timeoutMs}` };
  return withLocalSettings(db, settings, work, { inCallersTransaction: callersTransaction }).catch(
    (error: unknown) => {
      throw asPruned(error);
    },
  );
}

export type Distributions = {
  a: SideSummary;
  b: SideSummary;
  /** A's deciles, the PSI's inner edges (equal ones kept); empty when A has no values */
  psiEdges: number[];
  /** each version's count of values in PSI bins 0…9 (a value's bin: how many edges are ≤ it) */
  psiCounts: { a: number[]; b: number[] };
  ks: number | null;
  /** the value at which the two CDFs are furthest apart (where the KS statistic is measured) */
  ksAt: number | null;
  wasserstein: number | null;
};

/** A version's values sorted into one array `s`, with their count, mean and sample std. */
const sorted = (id: string, also?: RawBuilder<unknown>) => sortedValues(sql.table(partitionName(id)), also);

/**
 * The part of the Kolmogorov–Smirnov statistic and of the Wasserstein-1 distance that steps at the
 * distinct values of one side ("mine"), given both sides' values sorted into arrays: `[max |F_A −
 * F_B|, Σ |F_A − F_B| · (next − value), the value of the maximum]` over those values (ties of the
 * maximum going to the largest value), where the cumulative counts are the
 * position of the last of a tie in my array and, in the other, how many values are ≤ it
 * (width_bucket's binary search); next is the least value of either side above it. Only the last
 * of a tie is a step, so ties move both CDFs at once. A value that both sides hold is summed once,
 * on A's side, though it is still a point for the maximum on B's.
 */
const stepsOf = (mine: 'a' | 'b') => {
  const [my, other] = mine === 'a' ? [sql.raw('sa'), sql.raw('sb')] : [sql.raw('sb'), sql.raw('sa')];
  const [fa, fb] = mine === 'a' ? [sql`i`, sql`k`] : [sql`k`, sql`i`];
  const shared = mine === 'a' ? sql`false` : sql`k > 0 AND sa.s[k] = v`;
  // OFFSET 0 keeps each subquery whole, so the binary search runs once per value, not per use.
  return sql`(
    SELECT array[max(abs(d)), sum(abs(d) * (least(nx, ${other}.s[k + 1]) - v)) FILTER (WHERE NOT (${shared})),
                 (max(array[abs(d), v]))[2]]
    FROM (
      SELECT v, nx, k, ${fa}::float8 / sa.n - ${fb}::float8 / sb.n AS d
      FROM (
        SELECT v, i, ${my}.s[i + 1] AS nx, width_bucket(v, ${other}.s) AS k
        FROM (SELECT unnest(${my}.s) AS v, generate_series(1, ${my}.n) AS i) ordered OFFSET 0
      ) positions
      WHERE nx IS NULL OR nx <> v OFFSET 0
    ) steps)`;
};

/**
 * Count, mean, sample std and quantiles of each version, A's deciles and each version's count per
 * PSI bin, the KS statistic and the Wasserstein-1 distance, exactly, in one query: each version's
 * values are sorted once, into an array, and everything else is read from the two arrays.
 */
export async function distributions(db: Db, a: string, b: string): Promise<Distributions> {
  const { rows } = await sql<
    PsiBinColumns & {
      na: string;
      mean_a: number | null;
      std_a: number | null;
      q_a: number[] | null;
      nb: string;
      mean_b: number | null;
      std_b: number | null;
      q_b: number[] | null;
      from_a: (number | null)[] | null;
      from_b: (number | null)[] | null;
      cdf_a: number[] | null;
      cdf_b: number[] | null;
    }
  >`
    WITH RECURSIVE
    sa AS MATERIALIZED (${sorted(a)}),
    sb AS MATERIALIZED (${sorted(b)}),
    ${psiBinCtes}
    SELECT sa.n AS na, sa.mean AS mean_a, sa.std AS std_a, ${interpolated('sa.s', 'sa.n', QUANTILES)} AS q_a,
           sb.n AS nb, sb.mean AS mean_b, sb.std AS std_b, ${interpolated('sb.s', 'sb.n', QUANTILES)} AS q_b,
           ${interpolated('sa.s', 'sa.n', CDF_SHARES)} AS cdf_a, ${interpolated('sb.s', 'sb.n', CDF_SHARES)} AS cdf_b,
           ${psiBinColumns},
           CASE WHEN sa.n > 0 AND sb.n > 0 THEN ${stepsOf('a')} END AS from_a,
           CASE WHEN sa.n > 0 AND sb.n > 0 THEN ${stepsOf('b')} END AS from_b
    FROM sa, sb`.execute(db);
  const row = rows[0];
  const [na, nb] = [Number(row?.na ?? 0), Number(row?.nb ?? 0)];
  const side = (
    count: number,
    mean?: number | null,
    std?: number | null,
    q?: number[] | null,
    cdf?: number[] | null,
  ) => ({
    count,
    mean: mean ?? null,
    std: std ?? null,
    quantiles: q ?? QUANTILES.map(() => null),
    cdf: cdf ?? [],
  });
  const bins = psiBinsOf(row, na, nb);
  const [ksA, wA, atA] = row?.from_a ?? [null, null, null];
  const [ksB, wB, atB] = row?.from_b ?? [null, null, null];
  const bothSides = na > 0 && nb > 0;
  return {
    a: side(na, row?.mean_a, row?.std_a, row?.q_a, row?.cdf_a),
    b: side(nb, row?.mean_b, row?.std_b, row?.q_b, row?.cdf_b),
    psiEdges: bins.edges,
    psiCounts: bins.counts,
    ks: bothSides ? Math.max(ksA ?? 0, ksB ?? 0) : null,
    ksAt: bothSides ? (((ksA ?? 0) >= (ksB ?? 0) ? atA : atB) ?? null) : null,
    // with both sides, no step between two values (a single value in all) integrates to 0
    wasserstein: bothSides ? (wA ?? 0) + (wB ?? 0) : null,
  };
}

/** One version's count, mean, std and quantiles, as `distributions` computes them: a first version's side. */
export async function versionSummary(db: Db, id: string): Promise<SideSummary> {
  return (await summaryRead(db, id, false)).summary;
}

/**
 * A version's summary (versionSummary) and its checksum (partitionChecksum's), from one read of
 * its rows. A refresh reads it beside the index build, before its rows are attached; a first
 * version's drift report is then its summary, with nothing more to read.
 */
export async function summaryAndChecksum(
  db: Db,
  id: string,
): Promise<{ summary: SideSummary; rowCount: number; checksum: string }> {
  const { summary, hashSum } = await summaryRead(db, id, true);
  return { summary, rowCount: summary.count, checksum: checksumOf(summary.count, hashSum) };
}

async function summaryRead(
  db: Db,
  id: string,
  withChecksum: boolean,
): Promise<{ summary: SideSummary; hashSum: string | null }> {
  const hashes = withChecksum ? sql`, sum(${sql.raw(ROW_HASH)})::text AS hashes` : sql``;
  const { rows } = await sql<{
    n: string;
    mean: number | null;
    std: number | null;
    q: number[] | null;
    cdf: number[] | null;
    hashes?: string | null;
  }>`
    SELECT sv.n, sv.mean, sv.std, ${interpolated('sv.s', 'sv.n', QUANTILES)} AS q,
           ${interpolated('sv.s', 'sv.n', CDF_SHARES)} AS cdf ${withChecksum ? sql`, sv.hashes` : sql``}
    FROM (${sorted(id, hashes)}) sv`
    .execute(db)
    .catch((error: unknown) => {
      throw asPruned(error);
    });
  const row = rows[0];
  return {
    summary: {
      count: Number(row?.n ?? 0),
      mean: row?.mean ?? null,
      std: row?.std ?? null,
      quantiles: row?.q ?? QUANTILES.map(() => null),
      cdf: row?.cdf ?? [],
    },
    hashSum: row?.hashes ?? null,
  };
}

/**
 * The one rule for a key's change, shared by the report and the per-key CSV so that the CSV's
 * statuses add up to the report's figures: b − a against |a|, floored at 1e-9 so that a baseline
 * of 0 still divides. SQL text over two value expressions; the tolerance is checked, then spliced.
 */
export const relativeChangeSql = (a: string, b: string) => `(${b} - ${a}) / greatest(abs(${a}), 1e-9)`;

export function changedSql(a: string, b: string, tolerance: number): string {
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error(`not a change tolerance: ${tolerance}`);
  return `abs(${b} - ${a}) > ${tolerance}::float8 * greatest(abs(${a}), 1e-9)`;
}

export type KeyChanges = {
  both: number;
  meanAbsChange: number | null;
  medianAbsRelChange: number | null;
  changedShare: number | null;
  spearman: number | null;
};

/**
 * The join of two versions' partitions on key: the partitions themselves, whose statistics give
 * the join a true size (the parent has none, and its guess of billions of rows picked a nested
 * loop seven times slower); the version ids let the join walk both primary keys in key order.
 */
const joinOnKey = (a: string, b: string, columns: RawBuilder<unknown>) => sql`
  SELECT ${columns}
  FROM ${sql.table(partitionName(a))} a JOIN ${sql.table(partitionName(b))} b ON b.key = a.key
  WHERE a.version_id = ${a} AND b.version_id = ${b}`;

/** Per-key change over the keys in both versions, and Spearman's correlation of their ranks. */
export async function keyChanges(db: Db, a: string, b: string, tolerance: number): Promise<KeyChanges> {
  // Average ranks: a tie shares the mean of the ranks it spans, (first + last) / 2, where the first
  // is rank() and the last is how many values are ≤ it, count(*) over the same RANGE window; both
  // come from one sort per side. The sum is twice the average rank, which leaves the correlation
  // alone.
  const { rows } = await sql<{
    n: string;
    mac: number | null;
    medrel: number | null;
    changed: number | null;
    spearman: number | null;
  }>`
    SELECT count(*) AS n,
           avg(abs(bv - av)) AS mac,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(${sql.raw(relativeChangeSql('av', 'bv'))})) AS medrel,
           avg((${sql.raw(changedSql('av', 'bv', tolerance))})::int::float8) AS changed,
           corr(ra, rb) AS spearman
    FROM (
      SELECT av, bv, rank() OVER by_a + count(*) OVER by_a AS ra, rb
      FROM (
        SELECT av, bv, rank() OVER by_b + count(*) OVER by_b AS rb
        FROM (${joinOnKey(a, b, sql`a.value AS av, b.value AS bv`)}) pairs
        WINDOW by_b AS (ORDER BY bv RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      ) ranked_b
      WINDOW by_a AS (ORDER BY av RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ) ranked`.execute(db);
  const row = rows[0];
  return {
    both: Number(row?.n ?? 0),
    meanAbsChange: row?.mac ?? null,
    medianAbsRelChange: row?.medrel ?? null,
    changedShare: row?.changed ?? null,
    spearman: row?.spearman ?? null,
  };
}

export type Mover = { key: string; a: number; b: number; change: number };

export type TopMovers = { up: Mover[]; down: Mover[] };

/**
 * The keys in both versions that moved most: `up` the `limit` largest b − a above 0, largest
 * first; `down` the `limit` most negative, most negative first; ties in key order.
 */
export async function topMovers(db: Db, a: string, b: string, limit: number): Promise<TopMovers> {
  const count = Math.floor(limit);
  if (!(count > 0)) return { up: [], down: [] };
  // One join, kept (only the keys that moved), read twice by a top-N sort.
  const { rows } = await sql<Mover & { up: boolean }>`
    WITH moved AS MATERIALIZED (
      ${joinOnKey(a, b, sql`a.key, a.value AS a, b.value AS b, b.value - a.value AS change`)} AND b.value <> a.value
    )
    (SELECT true AS up, key, a, b, change FROM moved WHERE change > 0 ORDER BY change DESC, key LIMIT ${count})
    UNION ALL
    (SELECT false AS up, key, a, b, change FROM moved WHERE change < 0 ORDER BY change, key LIMIT ${count})`.execute(
    db,
  );
  const pick = (up: boolean) =>
    rows.filter((row) => row.up === up).map(({ key, a, b, change }) => ({ key, a, b, change }));
  return { up: pick(true), down: pick(false) };
}
