import type pg from 'pg';

/** An estimate as read on the hot path; the time is epoch milliseconds (no Date parsing per row). */
export type EstimateRow = {
  key: string;
  value: number;
  lower: number | null;
  upper: number | null;
  as_of_ms: number | null;
};

/** The columns of an EstimateRow, for every query that reads one. */
export const estimateColumns =
  'key, value, lower, upper, (extract(epoch FROM as_of) * 1000)::float8 AS as_of_ms';

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
