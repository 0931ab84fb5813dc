import pg from 'pg';
import { createDbOnClient, type Db, sessionOptions } from '../db/database.ts';
import { tryVersionLock } from '../db/locks.ts';
import { dropPartition } from '../db/partitions.ts';
import { findRun, finishRun } from '../db/runs.ts';
import { mergeLineage, transitionVersion } from '../db/versions.ts';

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
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'almanac-abandon',
    options: sessionOptions,
  });
  await client.connect();
  try {
    if (!(await tryVersionLock(client, run.versionId))) return false;
    const fenced = createDbOnClient(client);
    if (await transitionVersion(fenced, run.versionId, ['running'], 'failed')) {
      await mergeLineage(fenced, run.versionId, { error: reason });
    }
    await finishRun(fenced, runId, { state: 'failed', error: reason });
    await dropPartition(client, run.versionId);
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}
