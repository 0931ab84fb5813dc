import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from './database.ts';

/**
 * Advisory lock keys (two int4 keys: a namespace and an id). The version lock fences one refresh
 * attempt; the model lock serialises validating and publishing of one model.
 */
const VERSION_NAMESPACE = 0x416c01; // "Al" 1
const MODEL_NAMESPACE = 0x416c02;

export type LockClient = pg.Client | pg.PoolClient;

export async function tryVersionLock(client: LockClient, versionId: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2::int) AS ok', [
    VERSION_NAMESPACE,
    versionId,
  ]);
  return rows[0]?.ok === true;
}

/** Backends holding a version's lock (there is at most one). */
export async function versionLockHolders(client: LockClient, versionId: string): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2`,
    [VERSION_NAMESPACE, versionId],
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
    await client.query('SELECT pg_advisory_lock($1, $2::int)', [VERSION_NAMESPACE, versionId]);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') return false;
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
  await sql`SELECT pg_advisory_xact_lock(${MODEL_NAMESPACE}, hashtext(${model}))`.execute(db);
}
