import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * The staging table of an import: every row of the file with its line number, values already
 * parsed (null where a field had a problem). Temporary and dropped at the end of the
 * transaction: nothing of a rejected file is left behind.
 */

export type StagedProblem = { line: number; field: string; message: string };

const STAGING = 'almanac_import_staging';

export async function createStaging(client: pg.PoolClient): Promise<void> {
  await client.query(
    `CREATE TEMP TABLE ${STAGING} (line bigint NOT NULL, key text COLLATE "C", value float8, lower float8,
       upper float8, as_of timestamptz)
     ON COMMIT DROP`,
  );
}

/**
 * Streams a source through its transforms into the staging table; the last transform yields COPY
 * text lines (`line\tkey\tvalue\tlower\tupper\tas_of`). An error anywhere aborts the COPY.
 */
export async function copyIntoStaging(
  client: pg.PoolClient,
  source: Readable,
  ...transforms: Duplex[]
): Promise<void> {
  await pipeline([
    source,
    ...transforms,
    client.query(copyFrom(`COPY ${STAGING} (line, key, value, lower, upper, as_of) FROM STDIN`)),
  ]);
}

/** Lines whose key appeared on an earlier line, up to `limit`, and how many there are. */
export async function duplicateKeys(
  client: pg.PoolClient,
  limit: number,
): Promise<{ problems: StagedProblem[]; total: number }> {
  // Grouping first is cheap and, for a good file, finds nothing to look up.
  const { rows } = await client.query<StagedProblem & { total: string }>(
    `WITH repeated AS (
       SELECT key, min(line) AS first FROM ${STAGING} WHERE key <> '' GROUP BY key HAVING count(*) > 1
     )
     SELECT s.line::int AS line, 'key' AS field,
            format('duplicate key %s (first on line %s)', left(s.key, 60), r.first) AS message,
            count(*) OVER () AS total
     FROM ${STAGING} s JOIN repeated r ON r.key = s.key AND s.line <> r.first
     ORDER BY s.line
     LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return {
    problems: rows.map(({ line, field, message }) => ({ line, field, message })),
    total: Number(rows[0]?.total ?? 0),
  };
}

/** Moves the checked rows into a version's standalone table. */
export async function insertStagedRows(client: pg.PoolClient, table: string): Promise<number> {
  const result = await client.query(
    `INSERT INTO ${table} (key, value, lower, upper, as_of) SELECT key, value, lower, upper, as_of FROM ${STAGING}`,
  );
  return result.rowCount ?? 0;
}
