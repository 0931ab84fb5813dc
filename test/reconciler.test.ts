import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../jobs/queue.ts';
import { findRun } from '../src/db/runs.ts';
import { requestRefresh } from '../src/runs/request.ts';
import { useConnections, useMarket, useRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, demoSpec, type Pipeline, startPipeline, waitForRun } from './helpers/pipeline.ts';
import { forgetRedisKeys, REDIS_URL } from './helpers/services.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('reconciler');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
useMarket({ pool }, { keys: 300, days: 30, seed: 5 });
const pipelines: Pipeline[] = [];
const RECONCILE = { ALMANAC_RECONCILE_MS: '300' };

beforeAll(async () => {
  await applySpec(db(), demoSpec({ trainWindowDays: 10, holdoutDays: 2 }));
});
afterEach(async () => {
  while (pipelines.length > 0) await pipelines.pop()?.close();
});

async function pipeline(options: Parameters<typeof startPipeline>[2]) {
  const started = await startPipeline(database.url, prefix.current, options);
  pipelines.push(started);
  return started;
}

describe('the reconciler in every worker', () => {
  it('enqueues again a run left queued whose enqueue was lost', async () => {
    const { worker } = await pipeline({ workerEnv: RECONCILE });
    // the job never reaches Redis, as when the enqueue failed without the run being told
    const { run } = await requestRefresh(db(), async () => {}, { model: 'prices', trigger: 'test' });
    const done = await waitForRun(db(), run.id, 30_000);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(await worker?.isRunning()).toBe(true);
  });

  it('enqueues again the runs whose jobs Redis lost', async () => {
    const producer = await pipeline({ worker: false });
    const { run } = await requestRefresh(db(), producer.enqueue, { model: 'prices', trigger: 'test' });
    expect(await producer.queue.getJobState(run.jobId ?? '')).toBe('waiting');
    await forgetRedisKeys(prefix.current);
    expect(await producer.queue.getJobState(run.jobId ?? '')).toBe('unknown');
    await pipeline({ workerEnv: RECONCILE });
    expect(await waitForRun(db(), run.id, 30_000)).toMatchObject({ state: 'succeeded' });
  });

  it('closes a run whose job failed for good while nobody was there to close it', async () => {
    const producer = await pipeline({ worker: false });
    const { run } = await requestRefresh(db(), producer.enqueue, { model: 'prices', trigger: 'test' });
    // a worker that fails the job and dies before it can close the run: a bare BullMQ worker
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const bare = new Worker(
      QUEUE_NAME,
      async () => {
        throw new UnrecoverableError('the machine caught fire');
      },
      { connection, prefix: prefix.current },
    );
    try {
      await waitFor(
        async () => ((await producer.queue.getJobState(run.jobId ?? '')) === 'failed' ? true : undefined),
        10_000,
        'the bare worker to fail the job',
      );
    } finally {
      await bare.close();
      connection.disconnect();
    }
    expect((await findRun(db(), run.id))?.state).toBe('queued');
    await pipeline({ workerEnv: RECONCILE });
    expect(await waitForRun(db(), run.id, 30_000)).toMatchObject({
      state: 'failed',
      error: 'job failed: the machine caught fire',
    });
  });
});
