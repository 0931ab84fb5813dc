/**
 * The steps of a refresh job (BullMQ's step-job pattern), kept in the job's data so that a retried
 * or resumed job starts where it left off: `train` (check inputs, train, and for an unsharded run
 * everything else), `score` (add a sharded run's child jobs, one per shard), `finish` (once every
 * child is done: index, validate, publish). See src/pipeline/refresh.ts.
 */
export const REFRESH_STEPS = ['train', 'score', 'finish'] as const;
export type RefreshStep = (typeof REFRESH_STEPS)[number];
