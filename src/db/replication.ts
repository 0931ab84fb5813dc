import { sql } from 'kysely';
import type { Db } from './database.ts';

/**
 * Positions in the primary's write-ahead log (WAL) as byte offsets (a `pg_lsn` minus `'0/0'`), so
 * that the API reads a version from a streaming standby only once the standby has replayed the
 * commit that made the version's rows complete (src/api/version-reads.ts).
 */

/**
 * The primary's WAL insert position now. Every commit this session can see ends at or before it:
 * the insert position, not the write position (`pg_current_wal_lsn()`), because an asynchronous
 * commit is visible before its WAL is written out.
 */
export async function walPosition(db: Db): Promise<bigint> {
  const { rows } = await sql<{ lsn: string }>`
    SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text AS lsn`.execute(db);
  return BigInt(rows[0]?.lsn ?? '0');
}

/** How far a server has replayed its primary's WAL; `replayed` is null when it is not a standby. */
export async function replayPosition(db: Db): Promise<{ replayed: bigint | null }> {
  const { rows } = await sql<{ lsn: string | null }>`
    SELECT CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::text END AS lsn`.execute(
    db,
  );
  const lsn = rows[0]?.lsn ?? null;
  return { replayed: lsn === null ? null : BigInt(lsn) };
}
