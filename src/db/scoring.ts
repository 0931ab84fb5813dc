import type { Readable } from 'node:stream';
import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import { quote, type SourceRef } from './source.ts';

/**
 * The newest source row of every key, through a server-side cursor (memory stays flat however
 * many keys there are). Rows come as arrays: [key, as_of, duplicates, ...features].
 *
 * Keys are walked in descending order so that a (key, time) index is read backwards in one pass.
 * When no unique index guarantees one row per (key, time), each row also carries how many rows
 * share its key and time, so that a duplicate fails the run instead of being picked at random.
 */
export function newestRowsQuery(source: SourceRef): string {
  // Every reference is qualified: an output column named like a source column would otherwise
  // capture ORDER BY (and sort by its text).
  const key = `t.${quote(source.key)}`;
  const time = `t.${quote(source.time)}`;
  const features = source.features.map((feature, j) => `t.${quote(feature)}::float8 AS f${j}`).join(', ');
  const duplicates = source.uniqueKeyTime ? '1' : `count(*) OVER (PARTITION BY ${key}, ${time})`;
  return `SELECT DISTINCT ON (${key}) ${key}::text AS k, (${time})::timestamptz::text AS as_of, ${duplicates} AS n, ${features}
          FROM ${source.table} t
          WHERE ${key} IS NOT NULL AND ${time} IS NOT NULL
          ORDER BY ${key} DESC, ${time} DESC`;
}

export const SCORING_BATCH_ROWS = 10_000;

/** Opens the cursor on a pooled client; the caller releases the client when the stream ends. */
export function streamNewestRows(client: pg.PoolClient, source: SourceRef): Readable {
  return client.query(
    new QueryStream(newestRowsQuery(source), [], { batchSize: SCORING_BATCH_ROWS, rowMode: 'array' }),
  );
}

/** A cheap guess at the number of keys (planner statistics), for progress; undefined when unknown. */
export async function estimatedKeys(client: pg.PoolClient, source: SourceRef): Promise<number | undefined> {
  const { rows } = await client.query<{ estimate: number | null }>(
    `SELECT CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END AS estimate
     FROM pg_class c
     JOIN pg_stats s ON s.schemaname = c.relnamespace::regnamespace::text AND s.tablename = c.relname
     WHERE c.oid = $1::regclass AND s.attname = $2`,
    [source.table, source.key],
  );
  const estimate = rows[0]?.estimate;
  return estimate != null && estimate > 0 ? Math.round(estimate) : undefined;
}
