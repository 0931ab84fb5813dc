import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from './database.ts';
import { hasSqlState, PgError } from './pg-errors.ts';

/**
 * Advisory locks, keyed by a 64-bit hash of a name ('almanac-version:<id>', 'almanac-model:<name>'):
 * any version id fits, and names never collide with another application's integer keys. The
 * version lock fences one refresh attempt; the model lock serialises validating and publishing.
 * The version lock functions also take a shard's lock name (shardLockName), which fences one
 * child job of a sharded run: 'almanac-version:<id>.s<i>'.
 */
const versionKey = "hashtextextended('almanac-version:' || $1::text, 0)";
const MODEL_PREFIX = 'almanac-model:';

export type LockClient = pg.Client | pg.PoolClient;

/** What the version lock functions take to fence one shard of a version rather than the whole. */
export function shardLockName(versionId: string, shard: number): string {
  return `${versionId}.s${shard}`;
}

export async function tryVersionLock(client: LockClient, versionId: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${versionKey}) AS ok`, [
    versionId,
  ]);
  return rows[0]?.ok === true;
}

/** Backends of this database holding a version's lock (there is at most one). */
export async function versionLockHolders(client: LockClient, versionId: string): Promise<number[]> {
  // A bigint key shows in pg_locks as its high half (classid) and low half (objid), objsubid 1.
  const { rows } = await client.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l, (SELECT ${versionKey} AS k) key
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid::bigint = (key.k >> 32) & 4294967295 AND l.objid::bigint = key.k & 4294967295`,
    [versionId],
  );
  return rows.map((row) => row.pid);
}

/** Waits for a version's lock, up to `timeoutMs`; false on timeout. */
export async function waitVersionLock(
  client: LockClient,
  versionId: string,
  timeoutMs: number,
): Promise<boolean> {
  await client.query(`SET lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
  try {
    await client.query(`SELECT pg_advisory_lock(${versionKey})`, [versionId]);
    return true;
  } catch (error) {
    if (hasSqlState(error, PgError.lockNotAvailable)) return false;
    throw error;
  } finally {
    await client.query('SET lock_timeout = 0');
  }
}

export async function terminateBackend(client: LockClient, pid: number): Promise<void> {
  await client.query('SELECT pg_terminate_backend($1)', [pid]);
}

/** Takes the model's lock for the rest of the current transaction. */
export async function lockModelForTransaction(db: Db, model: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${MODEL_PREFIX + model}, 0))`.execute(db);
}
