import { sql } from 'kysely';
import type { Db } from './database.ts';

/**
 * Runs `work` with Postgres settings that hold for its transaction only (set_config's SET LOCAL):
 * in a transaction of its own, or, when `db` is a transaction the caller goes on with, in a
 * savepoint whose rollback undoes the settings and keeps the answers (the work only reads).
 */
export async function withLocalSettings<T>(
  db: Db,
  settings: Readonly<Record<string, string>>,
  work: (db: Db) => Promise<T>,
  options: { inCallersTransaction?: boolean } = {},
): Promise<T> {
  const apply = async (trx: Db) => {
    for (const [name, value] of Object.entries(settings)) {
      await sql`SELECT set_config(${name}, ${value}, true)`.execute(trx);
    }
  };
  if (options.inCallersTransaction !== true) {
    return db.transaction().execute(async (trx) => {
      await apply(trx);
      return work(trx);
    });
  }
  await sql`SAVEPOINT local_settings`.execute(db);
  try {
    await apply(db);
    return await work(db);
  } finally {
    await sql`ROLLBACK TO SAVEPOINT local_settings`.execute(db);
  }
}
