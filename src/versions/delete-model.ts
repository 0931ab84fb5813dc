import type pg from 'pg';
import type { Db } from '../db/database.ts';
import { deleteModelRows } from '../db/models.ts';
import { dropPartition } from '../db/partitions.ts';
import { listVersions } from '../db/versions.ts';

/**
 * Removes a model for good: its versions' tables (detached concurrently, then dropped), then its
 * rows. Used by `almanac demo --fresh` to start the demo over.
 */
export async function deleteModel(db: Db, pool: pg.Pool, name: string): Promise<void> {
  const versions = await listVersions(db, name, { limit: 1_000_000 });
  const client = await pool.connect();
  try {
    for (const version of versions) await dropPartition(client, version.id);
  } finally {
    client.release();
  }
  await db.transaction().execute((trx) => deleteModelRows(trx, name));
}
