import { sql } from 'kysely';
import type { Db } from './database.ts';

/** The dashboard's sessions (migrations/0003_dashboard_sessions.ts): one row per sign-in. */

export async function insertSession(
  db: Db,
  session: { id: string; keyHash: string; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('dashboard_sessions')
    .values({ id: session.id, key_hash: session.keyHash, expires_at: session.expiresAt })
    .execute();
  // Sessions that ended or expired more than a day ago are of no use, even to an audit: forget them.
  await db
    .deleteFrom('dashboard_sessions')
    .where(sql<boolean>`coalesce(ended_at, expires_at) < now() - interval '1 day'`)
    .execute();
}

/** The key of a session that has neither ended nor expired. */
export async function findLiveSessionKey(db: Db, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('dashboard_sessions')
    .select('key_hash')
    .where('id', '=', id)
    .where('ended_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row?.key_hash;
}

export async function endSession(db: Db, id: string): Promise<void> {
  await db
    .updateTable('dashboard_sessions')
    .set({ ended_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('ended_at', 'is', null)
    .execute();
}
