import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from '../db/database.ts';
import { dropPartition } from '../db/partitions.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import { transitionVersion } from '../db/versions.ts';
import { STATES_WITH_ROWS } from './states.ts';

export type RetentionOutcome = { pruned: number[]; dropped: number[]; deferred: number[] };

/**
 * Keeps the rows of a model's newest `keepVersions` versions that have rows; older superseded or
 * rejected versions become `pruned` (metadata stays; lookups get 410) and their tables are
 * detached concurrently and dropped. Tables of pruned or failed versions that an earlier pass
 * could not drop are swept too. A table that cannot be detached within the lock timeout (a long
 * reader holds it) is left for the next pass.
 */
export async function applyRetention(
  db: Db,
  client: pg.PoolClient,
  model: string,
  keepVersions: number,
  lockTimeoutMs = 5_000,
): Promise<RetentionOutcome> {
  const withRows = await db
    .selectFrom('versions')
    .select(['id', 'number', 'state'])
    .where('model', '=', model)
    .where('state', 'in', [...STATES_WITH_ROWS])
    .orderBy('number', 'desc')
    .execute();
  const outcome: RetentionOutcome = { pruned: [], dropped: [], deferred: [] };
  for (const version of withRows.slice(keepVersions)) {
    if (version.state !== 'superseded' && version.state !== 'rejected') continue;
    if (await transitionVersion(db, version.id, ['superseded', 'rejected'], 'pruned'))
      outcome.pruned.push(version.number);
  }
  const leftovers = await db
    .selectFrom('versions')
    .select(['id', 'number'])
    .where('model', '=', model)
    .where('state', 'in', ['pruned', 'failed'])
    .where(sql<boolean>`to_regclass('estimates_v' || id) IS NOT NULL`)
    .execute();
  for (const version of leftovers) {
    try {
      await dropPartition(client, version.id, lockTimeoutMs);
      outcome.dropped.push(version.number);
    } catch (error) {
      if (!hasSqlState(error, PgError.lockNotAvailable)) throw error;
      // A detach that timed out stays pending; the next pass finalizes it (dropPartition knows how).
      outcome.deferred.push(version.number);
    }
  }
  return outcome;
}
