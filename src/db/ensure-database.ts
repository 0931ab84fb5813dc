import pg from 'pg';
import { hasSqlState, PgError } from './pg-errors.ts';

/** Creates the database named in `connectionString` when it does not exist yet. Safe to race. */
export async function ensureDatabase(connectionString: string): Promise<{ created: boolean }> {
  const target = new URL(connectionString);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (name === '') return { created: false };

  const probe = new pg.Client({ connectionString });
  try {
    await probe.connect();
    return { created: false };
  } catch (error) {
    if (!hasSqlState(error, PgError.invalidCatalogName)) throw error;
  } finally {
    await probe.end().catch(() => {});
  }

  const maintenance = new URL(connectionString);
  maintenance.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return { created: true };
  } catch (error) {
    // Another process created it between our probe and our CREATE.
    if (hasSqlState(error, PgError.duplicateDatabase) || hasSqlState(error, PgError.uniqueViolation)) {
      return { created: false };
    }
    throw error;
  } finally {
    await admin.end();
  }
}
