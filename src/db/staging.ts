import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * The staging table of an import: every field as the text it was in the file, with its line, so
 * that the checks run in SQL and can name the line of each problem. Temporary and dropped at the
 * end of the transaction: nothing of a rejected file is left behind.
 */

export type StagedProblem = { line: number; field: string; message: string };

const STAGING = 'almanac_import_staging';

export async function createStaging(client: pg.PoolClient): Promise<void> {
  await client.query(
    `CREATE TEMP TABLE ${STAGING} (line bigint NOT NULL, key text, value text, lower text, upper text) ON COMMIT DROP`,
  );
}

/**
 * Streams a source through its transforms into the staging table; the last transform yields COPY
 * text lines (`line\tkey\tvalue\tlower\tupper`). An error anywhere aborts the COPY.
 */
export async function copyIntoStaging(
  client: pg.PoolClient,
  source: Readable,
  ...transforms: Duplex[]
): Promise<void> {
  await pipeline([
    source,
    ...transforms,
    client.query(copyFrom(`COPY ${STAGING} (line, key, value, lower, upper) FROM STDIN`)),
  ]);
}

// A float8 as text: digits with an optional fraction and exponent (no NaN, no Infinity).
const NUMBER = String.raw`^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$`;
const FLOAT8_MAX = '1.7976931348623157e308';
const FLOAT8_MIN_NORMAL = '2.2250738585072014e-308';

function numberProblems(field: 'value' | 'lower' | 'upper', required: boolean): string {
  return `
    SELECT line, '${field}' AS field,
      CASE
        WHEN ${field} IS NULL OR btrim(${field}) = '' THEN 'missing value'
        WHEN lower(btrim(${field})) IN ('nan', '+nan', '-nan') THEN 'NaN is not a number'
        WHEN lower(btrim(${field})) ~ '^[+-]?inf(inity)?$' THEN 'infinite values are not allowed'
        WHEN ${field} !~ '${NUMBER}' THEN format('not a number: %s', left(${field}, 40))
        WHEN ${field} ~ '[eE]+?[0-9]{4,}' THEN 'out of range: too large for a double (infinite)'
        WHEN ${field} ~ '[eE]-[0-9]{4,}' AND ${field} ~ '[1-9]' THEN 'out of range: too small for a double'
        WHEN abs(btrim(${field})::numeric) > ${FLOAT8_MAX}::numeric THEN 'out of range: too large for a double (infinite)'
        WHEN btrim(${field})::numeric <> 0 AND abs(btrim(${field})::numeric) < ${FLOAT8_MIN_NORMAL}::numeric
          THEN 'out of range: too small for a double'
      END AS message
    FROM ${STAGING}
    WHERE ${required ? 'true' : `${field} IS NOT NULL AND btrim(${field}) <> ''`}`;
}

/** Every problem of the staged rows, in line order, up to `limit`, and how many there are. */
export async function stagingProblems(
  client: pg.PoolClient,
  optional: { lower: boolean; upper: boolean },
  limit: number,
): Promise<{ problems: StagedProblem[]; total: number }> {
  const checks = [
    `SELECT line, 'key' AS field,
       CASE
         WHEN key IS NULL OR key = '' THEN 'missing key'
         WHEN char_length(key) > 256 THEN format('key is %s characters long; at most 256', char_length(key))
         WHEN key ~ '[[:cntrl:]]' THEN 'key contains control characters'
       END AS message
     FROM ${STAGING}`,
    `SELECT line, 'key' AS field, format('duplicate key %s (first on line %s)', left(key, 60), first) AS message
     FROM (SELECT line, key, min(line) OVER (PARTITION BY key) AS first FROM ${STAGING} WHERE key <> '') d
     WHERE line <> first`,
    numberProblems('value', true),
    ...(optional.lower ? [numberProblems('lower', false)] : []),
    ...(optional.upper ? [numberProblems('upper', false)] : []),
  ];
  const { rows } = await client.query<StagedProblem & { total: string }>(
    `SELECT line::int AS line, field, message, count(*) OVER () AS total
     FROM (${checks.join(' UNION ALL ')}) p
     WHERE message IS NOT NULL
     ORDER BY line, field
     LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return {
    problems: rows.map(({ line, field, message }) => ({ line, field, message })),
    total: Number(rows[0]?.total ?? 0),
  };
}

export async function stagedRowCount(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${STAGING}`);
  return Number(rows[0]?.n ?? 0);
}

/** Moves the checked rows into a version's standalone table. */
export async function insertStagedRows(client: pg.PoolClient, table: string): Promise<number> {
  const result = await client.query(
    `INSERT INTO ${table} (key, value, lower, upper)
     SELECT key, btrim(value)::float8, nullif(btrim(lower), '')::float8, nullif(btrim(upper), '')::float8
     FROM ${STAGING} ORDER BY key`,
  );
  return result.rowCount ?? 0;
}
