import type { Readable } from 'node:stream';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type EstimateRow, estimateColumns, isoUtc } from './estimates.ts';
import { assertVersionId } from './partitions.ts';

/**
 * A whole version, read in key order: streamed by COPY (CSV or JSON lines built by Postgres), or
 * page by page for writers that need columns (Parquet). Version ids are bigint from our own
 * sequence, safe to splice into COPY, which takes no parameters.
 */

export function copyVersionCsv(client: pg.ClientBase, versionId: string): Readable {
  return client.query(
    copyTo(
      `COPY (SELECT key, value, lower, upper, ${isoUtc('as_of')} AS as_of
             FROM estimates WHERE version_id = ${assertVersionId(versionId)} ORDER BY key)
       TO STDOUT WITH (FORMAT csv, HEADER)`,
    ),
  );
}

/** One JSON object per line, as COPY text: its backslashes come doubled (see jsonLines). */
export function copyVersionJson(client: pg.ClientBase, versionId: string): Readable {
  return client.query(
    copyTo(
      `COPY (SELECT json_build_object('key', key, 'value', value, 'lower', lower, 'upper', upper,
                      'asOf', ${isoUtc('as_of')})::text
             FROM estimates WHERE version_id = ${assertVersionId(versionId)} ORDER BY key)
       TO STDOUT`,
    ),
  );
}

/** The next page of a version after `afterKey`, in key order (keyset pagination on the primary key). */
export async function versionPage(
  client: pg.ClientBase,
  versionId: string,
  afterKey: string | undefined,
  limit: number,
): Promise<EstimateRow[]> {
  const { rows } = await client.query<EstimateRow>(
    afterKey === undefined
      ? {
          text: `SELECT ${estimateColumns} FROM estimates WHERE version_id = $1 ORDER BY key LIMIT $2`,
          values: [versionId, limit],
        }
      : {
          text: `SELECT ${estimateColumns} FROM estimates WHERE version_id = $1 AND key > $2 ORDER BY key LIMIT $3`,
          values: [versionId, afterKey, limit],
        },
  );
  return rows;
}
