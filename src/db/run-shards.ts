import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { ShardState } from './types.ts';

/**
 * The shards of a sharded run (migrations/0008_run_shards.ts): one row per child job, written by
 * that child through its fenced connection, read by the run's parent to decide whether every
 * shard succeeded, and by operators to see how far each got and which worker ran it.
 */

export type RunShard = {
  index: number;
  state: ShardState;
  rows: number;
  skippedRows: number;
  skippedKeys: number;
  /** host:pid of the worker process that ran it last */
  worker: string | null;
  attempts: number;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
};

/** A run's shards, by index; none for an unsharded run. */
export async function listRunShards(db: Db, runId: string): Promise<RunShard[]> {
  const rows = await db
    .selectFrom('run_shards')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('index')
    .execute();
  return rows.map((row) => ({
    index: row.index,
    state: row.state,
    rows: Number(row.rows),
    skippedRows: Number(row.skipped_rows),
    skippedKeys: Number(row.skipped_keys),
    worker: row.worker,
    attempts: row.attempts,
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }));
}

/** A fresh set of `count` pending shards for the run (whatever an earlier attempt left goes). */
export async function resetRunShards(db: Db, runId: string, count: number): Promise<void> {
  await db.deleteFrom('run_shards').where('run_id', '=', runId).execute();
  await db
    .insertInto('run_shards')
    .values(Array.from({ length: count }, (_, index) => ({ run_id: runId, index })))
    .execute();
}

/**
 * Starts an attempt at a shard: counts it and returns its number. Progress updates name that
 * number, so a stale attempt's writes match nothing once a newer one has started.
 */
export async function startShardAttempt(
  db: Db,
  runId: string,
  index: number,
  worker: string,
): Promise<number> {
  const row = await db
    .updateTable('run_shards')
    .set((eb) => ({
      state: 'running',
      attempts: eb('attempts', '+', 1),
      rows: 0,
      skipped_rows: 0,
      skipped_keys: 0,
      worker,
      error: null,
      started_at: sql`now()`,
      finished_at: null,
    }))
    .where('run_id', '=', runId)
    .where('index', '=', index)
    .returning('attempts')
    .executeTakeFirstOrThrow();
  return row.attempts;
}

/** Rows scored so far by a running shard attempt. */
export async function setShardRows(
  db: Db,
  runId: string,
  index: number,
  attempt: number,
  rows: number,
): Promise<void> {
  await db
    .updateTable('run_shards')
    .set({ rows })
    .where('run_id', '=', runId)
    .where('index', '=', index)
    .where('attempts', '=', attempt)
    .where('state', '=', 'running')
    .execute();
}

export async function finishShard(
  db: Db,
  runId: string,
  index: number,
  outcome:
    | { state: 'succeeded'; rows: number; skippedRows: number; skippedKeys: number }
    | { state: 'failed'; error: string },
): Promise<void> {
  await db
    .updateTable('run_shards')
    .set(
      outcome.state === 'succeeded'
        ? {
            state: 'succeeded',
            rows: outcome.rows,
            skipped_rows: outcome.skippedRows,
            skipped_keys: outcome.skippedKeys,
            error: null,
            finished_at: sql`now()`,
          }
        : { state: 'failed', error: outcome.error, finished_at: sql`now()` },
    )
    .where('run_id', '=', runId)
    .where('index', '=', index)
    .execute();
}

/** Keeps a shard attempt's error for operators to see while BullMQ retries it. */
export async function setShardError(db: Db, runId: string, index: number, error: string): Promise<void> {
  await db
    .updateTable('run_shards')
    .set({ error })
    .where('run_id', '=', runId)
    .where('index', '=', index)
    .execute();
}

/**
 * The run's progress through its scoring phase, from its shards: a finished shard counts whole, a
 * running one by its rows against `keysPerShard` (the planner's guess), capped below whole.
 */
export async function setRunProgressFromShards(
  db: Db,
  runId: string,
  span: readonly [number, number],
  keysPerShard: number,
): Promise<void> {
  const [from, to] = span;
  await sql`
    UPDATE runs SET progress = least(1, ${from}::float8 + ${to - from}::float8 * (
      SELECT avg(CASE WHEN s.state = 'succeeded' THEN 1
                      ELSE least(0.99, s.rows::float8 / ${Math.max(1, keysPerShard)}::float8) END)
      FROM run_shards s WHERE s.run_id = ${runId}))
    WHERE id = ${runId} AND state = 'running' AND phase = 'scoring'`.execute(db);
}
