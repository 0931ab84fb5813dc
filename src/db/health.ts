import { sql } from 'kysely';
import type { Db } from './database.ts';

/** A round trip to Postgres, for readiness checks. */
export async function databaseAnswers(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
