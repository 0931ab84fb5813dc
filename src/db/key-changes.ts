import type { Readable } from 'node:stream';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { changedSql, relativeChangeSql } from './drift-stats.ts';
import { partitionName } from './partitions.ts';

/**
 * Every key of two versions with its change, in key order, as CSV built by Postgres:
 * `key,a,b,change,relative_change,status`. `changed` follows the report's rule, so the counts of
 * the statuses are the report's coverage and changed share. COPY takes no parameters: the ids
 * (partitionName) and the tolerance (changedSql) are checked before they are spliced.
 */
export function copyKeyChangesCsv(client: pg.ClientBase, a: string, b: string, tolerance: number): Readable {
  return client.query(
    copyTo(
      `COPY (
         SELECT coalesce(a.key, b.key) AS key, a.value AS a, b.value AS b, b.value - a.value AS change,
                ${relativeChangeSql('a.value', 'b.value')} AS relative_change,
                CASE WHEN a.key IS NULL THEN 'added'
                     WHEN b.key IS NULL THEN 'removed'
                     WHEN ${changedSql('a.value', 'b.value', tolerance)} THEN 'changed'
                     ELSE 'unchanged' END AS status
         FROM ${partitionName(a)} a FULL JOIN ${partitionName(b)} b ON b.key = a.key
         ORDER BY 1
       ) TO STDOUT WITH (FORMAT csv, HEADER)`,
    ),
  );
}
