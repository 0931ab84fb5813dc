import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Db } from '../../src/db/database.ts';
import { REDIS_URL } from './services.ts';

/** SHA-256 of a query's rows as COPY text: equal bytes, equal hash. */
export async function copyChecksum(url: string, query: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, application_name: 'almanac-test-dump' });
  await client.connect();
  try {
    const hash = createHash('sha256');
    await pipeline(client.query(copyTo(`COPY (${query}) TO STDOUT`)), hash);
    return hash.digest('hex');
  } finally {
    await client.end();
  }
}

/**
 * Everything a request could change, as one string: each version's row count and checksum, every
 * catalog table's rows, the tables of versions, and the Redis keys under the prefix. Equal before
 * and after a request: it changed nothing.
 */
export async function dataState(db: Db, redisPrefix: string): Promise<string> {
  const { rows } = await sql<{ digest: string }>`
    SELECT concat_ws(' | ',
      (SELECT string_agg(v, ',' ORDER BY v) FROM (
        SELECT version_id || ':' || count(*) || ':' || md5(string_agg(e::text, ',' ORDER BY key)) AS v
        FROM estimates e GROUP BY version_id) per_version),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM models t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM versions t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM runs t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM publications t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM pins t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM api_keys t),
      (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM dashboard_sessions t),
      (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relname LIKE 'estimates_v%')) AS digest`.execute(
    db,
  );
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    const keys = (await redis.keys(`${redisPrefix}:*`)).sort();
    return `${rows[0]?.digest} | ${keys.join(',')}`;
  } finally {
    redis.disconnect();
  }
}
