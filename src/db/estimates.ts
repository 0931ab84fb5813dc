import type pg from 'pg';
import type { Db } from './database.ts';

/** An estimate as read on the hot path; the time is epoch milliseconds (no Date parsing per row). */
export type EstimateRow = {
  key: string;
  value: number;
  lower: number | null;
  upper: number | null;
  as_of_ms: number | null;
};

/**
 * The columns of an EstimateRow, for every query that reads one. `extract` answers an exact
 * numeric: the milliseconds are truncated as `isoUtc` truncates them, so every format shows the
 * same instant.
 */
export const estimateColumns =
  'key, value, lower, upper, floor(extract(epoch FROM as_of) * 1000)::float8 AS as_of_ms';

/**
 * A timestamptz as the one text form of every export: ISO 8601 in UTC with milliseconds and a Z,
 * what JavaScript's toISOString writes (`2026-05-01T00:00:00.000Z`).
 */
export const isoUtc = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The two lookups of the hot path, as named prepared statements (parsed and planned once per
 * connection): one key, or many keys of one version in one indexed query.
 */
export async function findEstimate(
  pool: pg.Pool,
  versionId: string,
  key: string,
): Promise<EstimateRow | undefined> {
  const { rows } = await pool.query<EstimateRow>({
    name: 'almanac-estimate',
    text: `SELECT ${estimateColumns} FROM estimates WHERE version_id = $1 AND key = $2`,
    values: [versionId, key],
  });
  return rows[0];
}

export async function findEstimates(
  pool: pg.Pool,
  versionId: string,
  keys: readonly string[],
): Promise<EstimateRow[]> {
  const { rows } = await pool.query<EstimateRow>({
    name: 'almanac-estimates',
    text: `SELECT ${estimateColumns} FROM estimates WHERE version_id = $1 AND key = ANY($2::text[])`,
    values: [versionId, keys],
  });
  return rows;
}

/** The first key of a model's published version in key order (the demo's example lookup). */
export async function firstKey(db: Db, model: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('latest_estimates')
    .select((eb) => eb.fn.min('key').as('key'))
    .where('model', '=', model)
    .executeTakeFirst();
  return row?.key ?? undefined;
}
