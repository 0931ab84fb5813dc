import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.ts';
import { finishRun, insertRun, type Run } from '../db/runs.ts';
import { ConflictError } from '../errors.ts';
import { estimatorFor } from '../model/estimators/registry.ts';
import { requireModel } from '../versions/resolve.ts';

export type RefreshPayload = { runId: string; model: string; slot: string };
/** Puts a refresh job on the queue (idempotent by job id). */
export type EnqueueRefresh = (jobId: string, payload: RefreshPayload) => Promise<void>;

export function refreshJobId(model: string, slot: string): string {
  // BullMQ refuses ':' in custom ids; model names and slots never contain one.
  return `refresh.${model}.${slot}`;
}

/** The job id of one shard of a sharded run: a child of the run's refresh job, `refresh.<model>.<slot>.s<i>`. */
export function shardJobId(model: string, slot: string, shard: number): string {
  return `${refreshJobId(model, slot)}.s${shard}`;
}

/** A cron tick as a slot: its UTC minute without colons, e.g. 20261128T0200Z. */
export function slotOf(tick: Date): string {
  return `${tick.toISOString().slice(0, 16).replaceAll('-', '').replace(':', '')}Z`;
}

/** The tick a cron slot stands for (the inverse of slotOf). */
export function slotTime(slot: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z$/.exec(slot);
  if (m === null) throw new Error(`not a cron slot: ${slot}`);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00Z`;
}

/**
 * Requests a refresh of (model, slot). The runs row decides: inserting it with ON CONFLICT DO
 * NOTHING means a slot runs once however many schedulers, CLIs and API calls ask. A run that is
 * still queued is enqueued again (the job id makes that idempotent), which heals a run whose
 * enqueue failed. A manual run's slot is `manual-<run id>`. `forceInputs` lets the run go past
 * failed input checks (src/drift/input-checks.ts); it is kept on the runs row.
 */
export async function requestRefresh(
  db: Db,
  enqueue: EnqueueRefresh,
  request: { model: string; slot?: string; trigger: string; forceInputs?: boolean },
): Promise<{ run: Run; created: boolean }> {
  const model = await requireModel(db, request.model);
  if (!estimatorFor(model.spec.estimator).needsSource) {
    throw new ConflictError(
      `model "${request.model}" is ${model.spec.estimator}: its versions are imported (\`almanac import\`), not refreshed`,
    );
  }
  const id = randomUUID();
  const slot = request.slot ?? `manual-${id}`;
  const jobId = refreshJobId(request.model, slot);
  const { run, created } = await insertRun(db, {
    id,
    model: request.model,
    slot,
    trigger: request.trigger,
    jobId,
    forceInputs: request.forceInputs ?? false,
  });
  if (created || run.state === 'queued') {
    try {
      await enqueue(jobId, { runId: run.id, model: run.model, slot: run.slot });
    } catch (error) {
      // A manual run nobody will ask for again must not linger as queued; a cron slot stays
      // queued, and the scheduler's next request of it enqueues it again.
      if (request.slot === undefined) {
        await finishRun(db, run.id, {
          state: 'failed',
          error: `could not be queued: ${(error as Error).message}`,
        });
      }
      throw error;
    }
  }
  return { run, created };
}
