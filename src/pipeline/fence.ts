import type pg from 'pg';
import type { Logger } from 'pino';
import { terminateBackend, tryVersionLock, versionLockHolders, waitVersionLock } from '../db/locks.ts';

/**
 * Takes a fence: a version's lock (a refresh attempt), or one shard's (shardLockName, a child job
 * of a sharded run), on the attempt's own connection, which it then writes through. When another
 * backend holds it, that is an attempt BullMQ has given up on (it hands a job over only after its
 * lock expired): its connection is terminated, so that it can write nothing more, and this
 * attempt takes over.
 */
export async function acquireFence(
  client: pg.Client,
  lockName: string,
  waitMs: number,
  stillOwnsJob: () => Promise<boolean>,
  log: Logger,
): Promise<void> {
  if (await tryVersionLock(client, lockName)) return;
  if (!(await stillOwnsJob())) {
    throw new Error(`${lockName} is locked by another attempt, and this one no longer owns its job`);
  }
  for (const pid of await versionLockHolders(client, lockName)) {
    log.warn({ pid, lock: lockName }, 'taking over from a stalled attempt: terminating its connection');
    await terminateBackend(client, pid);
  }
  if (!(await waitVersionLock(client, lockName, waitMs))) {
    throw new Error(`${lockName} is still locked by another attempt after ${waitMs} ms`);
  }
}
