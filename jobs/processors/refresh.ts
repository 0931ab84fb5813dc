import { type Job, UnrecoverableError, WaitingChildrenError } from 'bullmq';
import { classifyError } from '../../src/classify-error.ts';
import {
  type RefreshDeps,
  type RefreshOutcome,
  runRefresh,
  type ShardFlow,
} from '../../src/pipeline/refresh.ts';
import { runShard, type ShardOutcome } from '../../src/pipeline/score-shard.ts';
import { shardJobId } from '../../src/runs/request.ts';
import { type AlmanacQueue, type JobPayload, jobPayloads } from '../queue.ts';

/** Extending the job's lock succeeds only for the worker that holds it. */
const ownsJob = (job: Job, token: string | undefined, lockDurationMs: number) => async () =>
  token !== undefined &&
  (await job.extendLock(token, lockDurationMs).then(
    (n) => n > 0,
    () => false,
  ));

/** What no retry can fix fails the job for good. */
function asJobError(error: unknown): unknown {
  return classifyError(error).retry ? error : new UnrecoverableError((error as Error).message);
}

/**
 * The `refresh` job: validates its payload, runs one attempt, and marks what no retry can fix. A
 * sharded run's job is a step job: it adds its children to `queue` (each with the deterministic job
 * id `refresh.<model>.<slot>.s<i>`, and as a child of this job, so that a retried or resumed parent
 * adds none twice), then waits for them in `waiting-children`, freeing its worker slot.
 */
export function refreshProcessor(deps: RefreshDeps, lockDurationMs: number, queue: AlmanacQueue) {
  return async (job: Job<JobPayload<'refresh'>>, token?: string): Promise<RefreshOutcome> => {
    const payload = jobPayloads.refresh.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`bad refresh payload: ${payload.error.message}`);
    const data = payload.data;
    const flow: ShardFlow = {
      step: data.step ?? 'train',
      saveStep: async (step) => {
        await job.updateData({ ...data, step });
        flow.step = step;
      },
      addShards: async (shards) => {
        if (job.id === undefined) throw new Error('a refresh job without an id cannot have children');
        const parent = { id: job.id, queue: job.queueQualifiedName };
        await queue.addBulk(
          shards.map((shard) => ({
            name: 'refresh-shard' as const,
            data: shard,
            opts: {
              jobId: shardJobId(data.model, data.slot, shard.shard),
              parent,
              // A shard that fails for good lets the parent go on, which then fails the run
              // itself: its version `failed`, its tables dropped, the published version untouched.
              ignoreDependencyOnFailure: true,
            },
          })),
        );
      },
      waitForShards: async () => token !== undefined && job.moveToWaitingChildren(token),
    };
    let outcome: RefreshOutcome;
    try {
      outcome = await runRefresh(deps, {
        runId: data.runId,
        jobId: job.id ?? '',
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
        stillOwnsJob: ownsJob(job, token, lockDurationMs),
        flow,
      });
    } catch (error) {
      throw asJobError(error);
    }
    // BullMQ's signal that the job moved itself to waiting-children (it must not be completed)
    if (outcome.state === 'waiting') throw new WaitingChildrenError();
    return outcome;
  };
}

/** The `refresh-shard` job: one shard of a sharded run, a child of the run's `refresh` job. */
export function shardProcessor(deps: RefreshDeps, lockDurationMs: number) {
  return async (job: Job<JobPayload<'refresh-shard'>>, token?: string): Promise<ShardOutcome> => {
    const payload = jobPayloads['refresh-shard'].safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`bad refresh-shard payload: ${payload.error.message}`);
    try {
      return await runShard(deps, {
        job: payload.data,
        jobId: job.id ?? '',
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
        stillOwnsJob: ownsJob(job, token, lockDurationMs),
      });
    } catch (error) {
      throw asJobError(error);
    }
  };
}
