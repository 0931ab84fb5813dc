import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { RunPhase, RunRow, RunState } from './types.ts';

export type Run = {
  id: string;
  model: string;
  slot: string;
  trigger: string;
  jobId: string | null;
  state: RunState;
  phase: RunPhase;
  progress: number;
  versionId: string | null;
  version: number | null;
  error: string | null;
  attempts: number;
  /** the run goes past failed input checks, and its lineage says so */
  forceInputs: boolean;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
};

function selectRuns(db: Db) {
  return db
    .selectFrom('runs as r')
    .leftJoin('versions as v', 'v.id', 'r.version_id')
    .selectAll('r')
    .select('v.number as version_number');
}

function toRun(row: RunRow & { version_number: number | null }): Run {
  return {
    id: row.id,
    model: row.model,
    slot: row.slot,
    trigger: row.trigger,
    jobId: row.job_id,
    state: row.state,
    phase: row.phase,
    progress: row.progress,
    versionId: row.version_id,
    version: row.version_number,
    error: row.error,
    attempts: row.attempts,
    forceInputs: row.force_inputs,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/**
 * Inserts the run of (model, slot) unless it exists: this insert decides that a slot runs once
 * (and a run that exists keeps what it was asked for, `forceInputs` included).
 */
export async function insertRun(
  db: Db,
  run: { id: string; model: string; slot: string; trigger: string; jobId: string; forceInputs?: boolean },
): Promise<{ run: Run; created: boolean }> {
  const inserted = await db
    .insertInto('runs')
    .values({
      id: run.id,
      model: run.model,
      slot: run.slot,
      trigger: run.trigger,
      job_id: run.jobId,
      force_inputs: run.forceInputs ?? false,
    })
    .onConflict((conflict) => conflict.columns(['model', 'slot']).doNothing())
    .returning('id')
    .executeTakeFirst();
  const found = await findRunBySlot(db, run.model, run.slot);
  if (found === undefined) throw new Error(`run of ${run.model} for ${run.slot} vanished as it was inserted`);
  return { run: found, created: inserted !== undefined };
}

export async function findRun(db: Db, id: string): Promise<Run | undefined> {
  const row = await selectRuns(db).where('r.id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : toRun(row);
}

export async function findRunBySlot(db: Db, model: string, slot: string): Promise<Run | undefined> {
  const row = await selectRuns(db).where('r.model', '=', model).where('r.slot', '=', slot).executeTakeFirst();
  return row === undefined ? undefined : toRun(row);
}

/** Newest first; `before` is a cursor (the created_at and id of the last run of the previous page). */
export async function listRuns(
  db: Db,
  model: string,
  options: { limit: number; before?: { createdAt: Date; id: string } },
): Promise<Run[]> {
  let query = selectRuns(db).where('r.model', '=', model);
  if (options.before !== undefined) {
    const { createdAt, id } = options.before;
    query = query.where(sql<boolean>`(r.created_at, r.id) < (${createdAt}, ${id}::uuid)`);
  }
  const rows = await query
    .orderBy('r.created_at', 'desc')
    .orderBy('r.id', 'desc')
    .limit(options.limit)
    .execute();
  return rows.map(toRun);
}

/**
 * Starts an attempt: counts it, and returns its number. Progress and phase updates name that
 * number, so a stale attempt's writes match nothing once a newer attempt has started.
 */
export async function startRunAttempt(db: Db, runId: string): Promise<number> {
  const row = await db
    .updateTable('runs')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      state: 'running',
      phase: 'checking',
      progress: 0,
      error: null,
      started_at: sql`coalesce(started_at, now())`,
    }))
    .where('id', '=', runId)
    .returning('attempts')
    .executeTakeFirstOrThrow();
  return row.attempts;
}

export async function setRunPhase(
  db: Db,
  runId: string,
  attempt: number,
  phase: RunPhase,
  progress: number,
): Promise<void> {
  await db
    .updateTable('runs')
    .set({ phase, progress: Math.min(1, Math.max(0, progress)) })
    .where('id', '=', runId)
    .where('attempts', '=', attempt)
    .where('state', '=', 'running')
    .execute();
}

/** The run's version id, with the run's row locked to the end of the transaction (to create the version once). */
export async function lockRunVersion(db: Db, runId: string): Promise<string | null> {
  const row = await db
    .selectFrom('runs')
    .select('version_id')
    .where('id', '=', runId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return row.version_id;
}

/** Keeps an attempt's error on the run for operators to see while it is retried. */
export async function setRunError(db: Db, runId: string, error: string): Promise<void> {
  await db.updateTable('runs').set({ error }).where('id', '=', runId).execute();
}

export async function setRunVersion(db: Db, runId: string, versionId: string): Promise<void> {
  await db.updateTable('runs').set({ version_id: versionId }).where('id', '=', runId).execute();
}

export async function finishRun(
  db: Db,
  runId: string,
  outcome: { state: 'succeeded' } | { state: 'failed'; error: string },
): Promise<void> {
  await db
    .updateTable('runs')
    .set({
      state: outcome.state,
      phase: outcome.state === 'succeeded' ? 'done' : sql`phase`,
      progress: outcome.state === 'succeeded' ? 1 : sql`progress`,
      error: outcome.state === 'failed' ? outcome.error : null,
      finished_at: new Date(),
    })
    .where('id', '=', runId)
    .execute();
}

export type UnfinishedRun = Pick<Run, 'id' | 'model' | 'slot' | 'jobId' | 'state'>;

/**
 * Runs still `queued` or `running` that were requested more than `olderThanSeconds` ago: the
 * reconciler checks that a job stands behind each.
 */
export async function unfinishedRuns(db: Db, olderThanSeconds: number): Promise<UnfinishedRun[]> {
  const rows = await db
    .selectFrom('runs')
    .select(['id', 'model', 'slot', 'job_id', 'state'])
    .where('state', 'in', ['queued', 'running'])
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .orderBy('created_at')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    model: row.model,
    slot: row.slot,
    jobId: row.job_id,
    state: row.state,
  }));
}
