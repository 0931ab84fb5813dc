import { type Job, UnrecoverableError } from 'bullmq';
import type { Logger } from 'pino';
import { classifyError } from '../../src/classify-error.ts';
import type { Db } from '../../src/db/database.ts';
import { type Evaluation, evaluateModel } from '../../src/pipeline/evaluate.ts';
import { type JobPayload, jobPayloads } from '../queue.ts';

/** The `evaluate` job: realized accuracy of a model's versions, after each refresh or by hand. */
export function evaluateProcessor(deps: { db: Db; logger: Logger }) {
  return async (job: Job<JobPayload<'evaluate'>>): Promise<Evaluation> => {
    const payload = jobPayloads.evaluate.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`bad evaluate payload: ${payload.error.message}`);
    try {
      return await evaluateModel(deps.db, payload.data.model, deps.logger.child({ jobId: job.id }));
    } catch (error) {
      // a model deleted since, or a source that no retry can fix
      const { retry, message } = classifyError(error);
      if (!retry) throw new UnrecoverableError(message);
      throw error;
    }
  };
}

/** The job id of the evaluation that follows a refresh: one per model and slot, however often it is queued. */
export const evaluateJobId = (model: string, slot: string) => `evaluate.${model}.${slot}`;
