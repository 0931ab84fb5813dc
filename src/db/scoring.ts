import { sql } from 'kysely';
import type { Db } from './database.ts';
import { shardCondition } from './partitions.ts';
import { quote, type SourceRef } from './source.ts';

/** One shard of a sharded run: the keys whose hash puts them in partition `index` of `count`. */
export type ShardRef = { versionId: string; index: number; count: number };

/**
 * The newest source row of every key, for the server to stream in COPY's binary format
 * (streamNewestRows, src/db/newest-rows.ts), one tuple
 * `key text, as_of timestamptz, duplicates int4, feature float8…` per key (memory stays flat
 * however many keys there are).
 *
 * Binary rather than text: the server does not format four floats and a time per key, nor does
 * the scorer parse them back; for 1,000,000 keys the query takes about a quarter less time.
 * The time travels as the timestamptz that `estimates.as_of` stores (our sessions are UTC, so a
 * date or timestamp becomes the instant its text would have been read as).
 *
 * Keys are walked in descending order so that a (key, time) index is read backwards in one pass.
 * When no unique index guarantees one row per (key, time), each row also carries how many rows
 * share its key and time, so that a duplicate fails the run instead of being picked at random;
 * every row of a key belongs to the same shard, so the check holds within each.
 */
export function newestRowsQuery(source: SourceRef, shard?: ShardRef): string {
  // Every reference is qualified: an output column named like a source column would otherwise
  // capture ORDER BY (and sort by its text).
  const key = `t.${quote(source.key)}`;
  const time = `t.${quote(source.time)}`;
  const duplicates = source.uniqueKeyTime ? '1' : `count(*) OVER (PARTITION BY ${key}, ${time})`;
  const features = source.features.map((feature, j) => `t.${quote(feature)} AS f${j}`).join(', ');
  // The columns are cast for COPY once a key's newest row is picked, not on every row the index
  // walk reads (three per key here): 0.17 s less at 1,000,000 keys. OFFSET 0 keeps the casts out.
  const picked = `SELECT DISTINCT ON (${key}) ${key} AS k, ${time} AS as_of, ${duplicates} AS n, ${features}
          FROM ${source.table} t
          WHERE ${key} IS NOT NULL AND ${time} IS NOT NULL
          ORDER BY ${key} DESC, ${time} DESC
          OFFSET 0`;
  const cast = source.features.map((_, j) => `newest.f${j}::float8 AS f${j}`).join(', ');
  const newest = `SELECT newest.k::text AS k, newest.as_of::timestamptz AS as_of, newest.n::int4 AS n, ${cast}
          FROM (${picked}) newest`;
  if (shard === undefined) return newest;
  // A shard keeps its keys after DISTINCT ON: the hash is computed once per key rather than per
  // row, and the newest rows are found as an unsharded run finds them, by the (key, time) index
  // read backwards. A filter inside would make the planner sort the whole source instead (seen
  // spilling 68 MB to disk at 1,000,000 keys); OFFSET 0 keeps it out.
  return `${newest}
          WHERE ${shardCondition(shard.versionId, shard.index, shard.count, 'newest.k')}`;
}

/** A cheap guess at the number of keys (planner statistics), for progress; undefined when unknown. */
export async function estimatedKeys(db: Db, source: SourceRef): Promise<number | undefined> {
  const { rows } = await sql<{ estimate: number | null }>`
    SELECT CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END AS estimate
    FROM pg_class c
    -- the schema's own name: regnamespace's text quotes a mixed-case one ("Shop")
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
    WHERE c.oid = ${source.table}::regclass AND s.attname = ${source.key}`.execute(db);
  const estimate = rows[0]?.estimate;
  return estimate != null && estimate > 0 ? Math.round(estimate) : undefined;
}

/** The exact number of distinct keys of the source (a scan): when the planner has no statistics. */
export async function countKeys(db: Db, source: SourceRef): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(DISTINCT ${sql.raw(quote(source.key))}) AS n FROM ${sql.raw(source.table)}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}
