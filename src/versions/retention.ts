import type pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { dropPartition } from '../db/partitions.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import { pruneUnlessPinned } from '../db/pins.ts';
import { versionsWithRows, versionsWithTables } from '../db/versions.ts';
import { STATES_WITH_ROWS } from './states.ts';

export type RetentionOutcome = {
  pruned: number[];
  dropped: number[];
  deferred: number[];
  /** versions past `keepVersions` that pins kept, with the consumers that pin them */
  pinned: { version: number; consumers: string[] }[];
};

/**
 * Keeps the rows of a model's newest `keepVersions` versions that have rows; older superseded or
 * rejected versions become `pruned` (metadata stays; lookups get 410) unless an unexpired pin
 * names them (then they are kept, and the pass says which pins kept them), and their tables are
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
  const withRows = await versionsWithRows(db, model, STATES_WITH_ROWS);
  const outcome: RetentionOutcome = { pruned: [], dropped: [], deferred: [], pinned: [] };
  for (const version of withRows.slice(keepVersions)) {
    if (version.state !== 'superseded' && version.state !== 'rejected') continue;
    const { pruned, keptBy } = await pruneUnlessPinned(db, version.id, ['superseded', 'rejected']);
    if (pruned) outcome.pruned.push(version.number);
    if (keptBy.length > 0) outcome.pinned.push({ version: version.number, consumers: keptBy });
  }
  for (const version of await versionsWithTables(db, model, ['pruned', 'failed'])) {
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

export type RetentionDeps = { db: Db; pool: pg.Pool; logger: Logger };

/**
 * Retention after a publish (a refresh's, an import's, an approval or a rollback): a failure here
 * is logged, never fails the publish that came before it; the next publish tries again.
 */
export async function retainAfterPublish(
  deps: RetentionDeps,
  model: string,
  keepVersions: number,
): Promise<void> {
  let client: pg.PoolClient | undefined;
  try {
    client = await deps.pool.connect();
    const outcome = await applyRetention(deps.db, client, model, keepVersions);
    for (const { version, consumers } of outcome.pinned) {
      deps.logger.info(
        { model, version, consumers },
        `retention kept version ${version}: pinned by ${consumers.join(', ')}`,
      );
    }
    if (outcome.pruned.length + outcome.dropped.length + outcome.deferred.length > 0) {
      deps.logger.info(
        { model, pruned: outcome.pruned, dropped: outcome.dropped, deferred: outcome.deferred },
        'retention',
      );
    }
  } catch (error) {
    deps.logger.warn(
      { err: error, model },
      'retention failed; it will be tried again after the next publish',
    );
  } finally {
    client?.release();
  }
}
