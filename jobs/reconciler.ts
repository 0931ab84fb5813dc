import type { Logger } from 'pino';
import type { Db } from '../src/db/database.ts';
import { type UnfinishedRun, unfinishedRuns } from '../src/db/runs.ts';
import { abandonRun } from '../src/pipeline/abandon.ts';
import { refreshJobId } from '../src/runs/request.ts';
import type { Producer } from '../src/runtime.ts';
import { every } from './every.ts';
import { runsReconciled } from './metrics.ts';

export type ReconcilerDeps = {
  db: Db;
  databaseUrl: string;
  producer: Pick<Producer, 'queue' | 'enqueueRefresh' | 'ready'>;
  logger: Logger;
  /** how often it looks, and how old a run must be before it counts as lost (ALMANAC_RECONCILE_MS) */
  everyMs: number;
};

/**
 * The runs table is the truth and Redis only carries work: a run left `queued` or `running` with
 * no job behind it (its enqueue was lost, or Redis lost its data) would wait forever, so every
 * worker looks now and then and enqueues such a run again, under its own job id (BullMQ keeps one
 * job per id, so workers that find the same run at once add it once). A run whose job failed for
 * good while its worker died before closing the run is closed here.
 */
export function startReconciler(deps: ReconcilerDeps): { close: () => Promise<void> } {
  const { logger, producer } = deps;
  let closed = false;

  const reconcile = async (run: UnfinishedRun) => {
    const jobId = run.jobId ?? refreshJobId(run.model, run.slot);
    const state = await producer.queue.getJobState(jobId);
    if (state === 'unknown') {
      await producer.enqueueRefresh(jobId, { runId: run.id, model: run.model, slot: run.slot });
      runsReconciled.inc({ action: 'enqueued' });
      logger.warn(
        { runId: run.id, model: run.model, slot: run.slot, jobId, runState: run.state },
        `run ${run.id} was ${run.state} with no job behind it (the enqueue or Redis lost it): enqueued again`,
      );
    } else if (state === 'failed') {
      const job = await producer.queue.getJob(jobId);
      const reason = `job failed: ${job?.failedReason ?? 'no reason recorded'}`;
      if (await abandonRun(deps.db, deps.databaseUrl, run.id, reason)) {
        runsReconciled.inc({ action: 'closed' });
        logger.warn({ runId: run.id, jobId }, `run ${run.id} outlived its failed job: closed as failed`);
      }
    }
  };

  const sweep = async () => {
    if (!producer.ready()) return;
    for (const run of await unfinishedRuns(deps.db, deps.everyMs / 1000)) {
      if (closed) return;
      await reconcile(run).catch((error: unknown) =>
        logger.warn({ err: error, runId: run.id }, 'could not reconcile a run; trying again later'),
      );
    }
  };

  const passes = every(deps.everyMs, sweep, logger, 'could not look for lost runs');
  return {
    close: async () => {
      closed = true;
      await passes.close();
    },
  };
}
