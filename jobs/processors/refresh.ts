import { type Job, UnrecoverableError } from 'bullmq';
import { classifyError } from '../../src/classify-error.ts';
import { type RefreshDeps, type RefreshOutcome, runRefresh } from '../../src/pipeline/refresh.ts';
import { type JobPayload, jobPayloads } from '../queue.ts';

/** The `refresh` job: validates its payload, runs one attempt, and marks what no retry can fix. */
export function refreshProcessor(deps: RefreshDeps, lockDurationMs: number) {
  return async (job: Job<JobPayload<'refresh'>>, token?: string): Promise<RefreshOutcome> => {
    const payload = jobPayloads.refresh.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`bad refresh payload: ${payload.error.message}`);
    try {
      return await runRefresh(deps, {
        runId: payload.data.runId,
        jobId: job.id ?? '',
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
        // Extending the job's lock succeeds only for the worker that holds it.
        stillOwnsJob: async () =>
          token !== undefined &&
          (await job.extendLock(token, lockDurationMs).then(
            (n) => n > 0,
            () => false,
          )),
      });
    } catch (error) {
      if (!classifyError(error).retry) throw new UnrecoverableError((error as Error).message);
      throw error;
    }
  };
}
