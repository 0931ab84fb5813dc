import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { UnavailableError } from '../src/errors.ts';
import { MAX_SHARDS, modelName } from '../src/model/spec.ts';
import { REFRESH_STEPS } from '../src/pipeline/steps.ts';
import { within } from '../src/within.ts';

/** The one queue, and the typed registry of its jobs: name → payload schema. */
export const QUEUE_NAME = 'almanac';

export const jobPayloads = {
  refresh: z
    .object({
      runId: z.uuid(),
      model: modelName,
      slot: z.string().min(1),
      /** where a sharded run's step job goes on from (src/pipeline/refresh.ts); absent: `train` */
      step: z.enum(REFRESH_STEPS).optional(),
    })
    .strict(),
  /** one shard of a sharded run: a child of the run's `refresh` job */
  'refresh-shard': z
    .object({
      runId: z.uuid(),
      model: modelName,
      slot: z.string().min(1),
      versionId: z.string().regex(/^\d+$/),
      shard: z
        .number()
        .int()
        .min(0)
        .max(MAX_SHARDS - 1),
      shards: z.number().int().min(2).max(MAX_SHARDS),
      keys: z.number().min(0),
    })
    .strict(),
  evaluate: z.object({ model: modelName }).strict(),
} as const;

export type JobName = keyof typeof jobPayloads;
export type JobPayload<N extends JobName = JobName> = z.infer<(typeof jobPayloads)[N]>;
export type AlmanacQueue = Queue<JobPayload, unknown, JobName>;

/** Retries with backoff for I/O failures; finished jobs are kept a while for inspection. */
export const jobOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

export function createQueue(connection: Redis, prefix: string): AlmanacQueue {
  return new Queue<JobPayload, unknown, JobName>(QUEUE_NAME, {
    connection,
    prefix,
    defaultJobOptions: jobOptions,
  });
}

/**
 * An enqueue that fails fast when Redis is down: BullMQ's `add` would wait for a lost
 * connection to come back, so the connection must be `ready` and the add is bounded in time.
 */
export async function addWithin<N extends JobName>(
  queue: AlmanacQueue,
  connection: Redis,
  name: N,
  payload: JobPayload<N>,
  jobId: string,
  timeoutMs = 2_000,
): Promise<void> {
  if (connection.status !== 'ready') {
    throw new UnavailableError(
      `the job queue (Redis) is not reachable (${connection.status}); try again shortly`,
    );
  }
  await within(
    timeoutMs,
    queue.add(name, payload, { jobId }).catch((error: unknown) => {
      // a connection that closed or failed under the add: Redis, not the job, is the trouble
      throw new UnavailableError('the job queue (Redis) did not accept the job; try again shortly', {
        cause: error,
      });
    }),
    () => new UnavailableError(`the job queue (Redis) did not accept the job within ${timeoutMs} ms`),
  );
}
