import type { Readable } from 'node:stream';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { partitionName } from './partitions.ts';

/**
 * Every key of two versions with its change, in key order, as CSV built by Postgres:
 * `key,a,b,change,relative_change,status`. `changed` follows the report's rule (|b − a| greater
 * than the tolerance times max(|a|, 1e-9)), so the counts of the statuses are the report's
 * coverage and changed share. COPY takes no parameters: ids and the tolerance are checked first.
 */
export function copyKeyChangesCsv(client: pg.ClientBase, a: string, b: string, tolerance: number): Readable {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) throw new Error(`not version ids: ${a}, ${b}`);
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error(`not a change tolerance: ${tolerance}`);
  return client.query(
    copyTo(
      `COPY (
         SELECT coalesce(a.key, b.key) AS key, a.value AS a, b.value AS b, b.value - a.value AS change,
                (b.value - a.value) / greatest(abs(a.value), 1e-9) AS relative_change,
                CASE WHEN a.key IS NULL THEN 'added'
                     WHEN b.key IS NULL THEN 'removed'
                     WHEN abs(b.value - a.value) > ${tolerance}::float8 * greatest(abs(a.value), 1e-9) THEN 'changed'
                     ELSE 'unchanged' END AS status
         FROM ${partitionName(a)} a FULL JOIN ${partitionName(b)} b ON b.key = a.key
         ORDER BY 1
       ) TO STDOUT WITH (FORMAT csv, HEADER)`,
    ),
  );
}
