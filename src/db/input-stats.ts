import { sql } from 'kysely';
import type { Db } from './database.ts';
import { withStatisticsSettings } from './drift-stats.ts';
import { DECILES, type PsiBins } from './psi-bins.ts';
import { finite, quote, type SourceRef, timeText, unusableShare } from './source.ts';

/**
 * The statistics of the input checks (src/drift/input-checks.ts), computed by Postgres over two
 * slices of a model's source: the rows at one source time. Times travel as text (timeText,
 * src/db/source.ts) and are cast back to the time column's type, which is exact.
 */

/** How many keys absent from the newest slice lineage lists, in key order. */
export const MISSING_KEYS_LISTED = 100;

/** The rows of the slice at `time`; keys that scoring would leave out (null) are not counted. */
const slice = (source: SourceRef, time: string, alias = 't') =>
  sql`${sql.raw(`${alias}.${quote(source.key)}`)} IS NOT NULL
      AND ${sql.raw(`${alias}.${quote(source.time)}`)} = ${time}::${sql.raw(source.timeType)}`;

/** The source's newest time: the slice a refresh scores; null for an empty source. */
export async function newestSourceTime(db: Db, source: SourceRef): Promise<string | null> {
  const { rows } = await sql<{ time: string | null }>`
    SELECT ${sql.raw(timeText(source, `max(${quote(source.time)})`))} AS time
    FROM ${sql.raw(source.table)} WHERE ${sql.raw(quote(source.key))} IS NOT NULL`.execute(db);
  return rows[0]?.time ?? null;
}

export type SliceFigures = {
  rows: number;
  /** per feature: the share of the slice's rows whose value is null or not finite (null without rows) */
  nullShare: Record<string, number | null>;
  /**
   * rows at the slice's time, keyed or not, with a finite target: whether training's anchor
   * (src/db/training.ts) is this time, learnt without scanning the slice again
   */
  targetRows: number;
};

/** The slice's rows, each feature's share of null or non-finite values and its targets, in one scan. */
export async function sliceFigures(db: Db, source: SourceRef, time: string): Promise<SliceFigures> {
  const keyed = `t.${quote(source.key)} IS NOT NULL`;
  const shares = source.features.map(
    (feature, j) => `${unusableShare(`t.${quote(feature)}`, keyed)} AS f${j}`,
  );
  const { rows } = await sql<Record<string, string | number | null>>`
    SELECT count(*) FILTER (WHERE ${sql.raw(keyed)}) AS n, ${sql.raw(shares.join(', '))},
           count(*) FILTER (WHERE ${sql.raw(finite(`t.${quote(source.target)}`))}) AS target_rows
    FROM ${sql.raw(source.table)} t
    WHERE t.${sql.raw(quote(source.time))} = ${time}::${sql.raw(source.timeType)}`.execute(db);
  const row = rows[0] ?? {};
  return {
    rows: Number(row.n ?? 0),
    nullShare: Object.fromEntries(
      source.features.map((feature, j) => [feature, row[`f${j}`] == null ? null : Number(row[`f${j}`])]),
    ),
    targetRows: Number(row.target_rows ?? 0),
  };
}

/** The source's newest slice (what a refresh scores) and its figures. */
export type NewestSlice = SliceFigures & { time: string };

/** The newest slice, or null for an empty source. */
export async function newestSlice(db: Db, source: SourceRef): Promise<NewestSlice | null> {
  const time = await newestSourceTime(db, source);
  return time === null ? null : { time, ...(await sliceFigures(db, source, time)) };
}

export type MissingKeys = {
  /** rows of the published slice */
  rows: number;
  /** distinct keys of the published slice */
  keys: number;
  /** how many of them the newest slice lacks */
  missing: number;
  /** the first MISSING_KEYS_LISTED of those, in key order */
  listed: string[];
};

/**
 * The published slice's keys that the newest slice lacks: scoring would take their older rows.
 * One scan of both slices, grouped by key (how many rows each has in either): a hash of the keys
 * in memory, where a lookup of the newest slice per published row took 4× as long at 1,000,000
 * keys.
 */
export async function missingKeys(
  db: Db,
  source: SourceRef,
  published: string,
  newest: string,
): Promise<MissingKeys> {
  const key = sql.raw(`t.${quote(source.key)}`);
  const time = sql.raw(`t.${quote(source.time)}`);
  const at = (value: string) => sql`${value}::${sql.raw(source.timeType)}`;
  const byKey = sql`(
    SELECT ${key} AS key, count(*) FILTER (WHERE ${time} = ${at(published)}) AS published,
           count(*) FILTER (WHERE ${time} = ${at(newest)}) AS newest
    FROM ${sql.raw(source.table)} t
    WHERE ${key} IS NOT NULL AND ${time} IN (${at(published)}, ${at(newest)})
    GROUP BY ${key}) k`;
  return withStatisticsSettings(db, false, undefined, async (trx) => {
    const { rows } = await sql<{ n: string; keys: string; missing: string }>`
      SELECT coalesce(sum(published), 0) AS n, count(*) FILTER (WHERE published > 0) AS keys,
             count(*) FILTER (WHERE published > 0 AND newest = 0) AS missing
      FROM ${byKey}`.execute(trx);
    const counts = rows[0];
    const missing = Number(counts?.missing ?? 0);
    const listed =
      missing === 0
        ? []
        : (
            await sql<{ key: string }>`
              SELECT key::text COLLATE "C" AS key FROM ${byKey}
              WHERE published > 0 AND newest = 0 ORDER BY 1 LIMIT ${MISSING_KEYS_LISTED}`.execute(trx)
          ).rows.map((row) => row.key);
    return { rows: Number(counts?.n ?? 0), keys: Number(counts?.keys ?? 0), missing, listed };
  });
}

/**
 * Each feature's PSI bins, with the published slice as A and the newest as B, by the drift
 * report's rule (src/db/psi-bins.ts): A's deciles are the edges, a value's bin is how many edges
 * are ≤ it. Two scans whatever the features: the published slice for every feature's deciles
 * (percentile_cont, whose interpolation is the report's), then both slices grouped by time and
 * every feature's bin (width_bucket counts the edges ≤ a value), which leaves a few thousand groups
 * at most to add up here. Only A's values are sorted; B's are counted.
 */
export async function featureBins(
  db: Db,
  source: SourceRef,
  published: string,
  newest: string,
): Promise<Record<string, PsiBins & { countA: number; countB: number }>> {
  const at = (value: string) => sql`${value}::${sql.raw(source.timeType)}`;
  const time = sql.raw(`t.${quote(source.time)}`);
  const keyed = sql.raw(`t.${quote(source.key)} IS NOT NULL`);
  const columns = source.features.map((feature) => `t.${quote(feature)}::float8`);
  return withStatisticsSettings(db, false, undefined, async (trx) => {
    const deciles = columns.map(
      (column, j) =>
        sql`percentile_cont(${sql.val(DECILES)}::float8[]) WITHIN GROUP (ORDER BY ${sql.raw(column)})
              FILTER (WHERE ${sql.raw(finite(column))}) AS ${sql.ref(`e${j}`)}`,
    );
    const { rows: found } = await sql<Record<string, number[] | null>>`
      SELECT ${sql.join(deciles)} FROM ${sql.raw(source.table)} t
      WHERE ${slice(source, published)}`.execute(trx);
    const edges = columns.map((_, j) => found[0]?.[`e${j}`] ?? []);
    const binOf = columns.map(
      (column, j) =>
        sql`CASE WHEN ${sql.raw(finite(column))} THEN width_bucket(${sql.raw(column)}, ${sql.val(edges[j])}::float8[]) END AS ${sql.ref(`b${j}`)}`,
    );
    const groupBy = columns.map((_, j) => sql.ref(`b${j}`));
    const { rows: groups } = await sql<Record<string, number | string | boolean | null>>`
      SELECT ${time} = ${at(published)} AS a, ${time} = ${at(newest)} AS b, ${sql.join(binOf)}, count(*) AS n
      FROM ${sql.raw(source.table)} t
      WHERE ${keyed} AND ${time} IN (${at(published)}, ${at(newest)})
      GROUP BY ${time}, ${sql.join(groupBy)}`.execute(trx);
    return Object.fromEntries(
      source.features.map((feature, j) => {
        const counts = { a: new Array<number>(10).fill(0), b: new Array<number>(10).fill(0) };
        for (const group of groups) {
          const bin = group[`b${j}`];
          if (bin === null || bin === undefined) continue;
          // the slices are one when the newest time is the published one: its values count for both
          if (group.a === true) counts.a[Number(bin)] = (counts.a[Number(bin)] ?? 0) + Number(group.n);
          if (group.b === true) counts.b[Number(bin)] = (counts.b[Number(bin)] ?? 0) + Number(group.n);
        }
        const total = (side: number[]) => side.reduce((sum, count) => sum + count, 0);
        const countA = (edges[j] ?? []).length === 0 ? 0 : total(counts.a);
        return [feature, { edges: edges[j] ?? [], counts, countA, countB: total(counts.b) }];
      }),
    );
  });
}
