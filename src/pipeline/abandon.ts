import type pg from 'pg';
import { createClient } from '../db/client.ts';
import { createDbOnClient, type Db } from '../db/database.ts';
import { tryVersionLock } from '../db/locks.ts';
import { dropPartition } from '../db/partitions.ts';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import { findRun, finishRun } from '../db/runs.ts';
import { mergeLineage, transitionVersion } from '../db/versions.ts';

/**
 * Ends a run for good, through the connection that holds its version's lock: the version becomes
 * `failed` with the error, the run `failed`, and the version's table goes (one whose drop times
 * out on a lock is left to retention, which sweeps the tables of failed versions).
 */
export async function failRunAndVersion(
  fenced: Db,
  client: pg.Client,
  runId: string,
  versionId: string,
  message: string,
): Promise<void> {
  if (await transitionVersion(fenced, versionId, ['running'], 'failed')) {
    await mergeLineage(fenced, versionId, { error: message });
  }
  await finishRun(fenced, runId, { state: 'failed', error: message });
  await dropPartition(client, versionId).catch((error: unknown) => {
    if (!hasSqlState(error, PgError.lockNotAvailable)) throw error;
  });
}

/**
 * Closes a run whose job failed without its processor saying so (BullMQ gave up on a job that
 * stalled too often: its worker died each time). Only when no attempt holds the version lock;
 * a run that is already closed is left as it is.
 */
export async function abandonRun(
  db: Db,
  databaseUrl: string,
  runId: string,
  reason: string,
): Promise<boolean> {
  const run = await findRun(db, runId);
  if (run === undefined || run.state === 'succeeded' || run.state === 'failed') return false;
  if (run.versionId === null) {
    await finishRun(db, runId, { state: 'failed', error: reason });
    return true;
  }
  const client = createClient(databaseUrl, 'almanac-abandon');
  await client.connect();
  try {
    if (!(await tryVersionLock(client, run.versionId))) return false;
    await failRunAndVersion(createDbOnClient(client), client, runId, run.versionId, reason);
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}
