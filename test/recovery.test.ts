import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findRun } from '../src/db/runs.ts';
import { listVersions } from '../src/db/versions.ts';
import { requestRefresh } from '../src/runs/request.ts';
import { useCleanups, useConnections, useMarket, useRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, demoSpec, startPipeline, strayTables, waitForRun } from './helpers/pipeline.ts';
import { resumeStalled, spawnWorker, waitFor } from './helpers/worker-process.ts';

const KEYS = 300_000;
const database = useTestDatabase('recovery');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
const cleanups = useCleanups();
useMarket({ pool }, { keys: KEYS, days: 3, seed: 11, start: '2026-03-01' });

beforeAll(async () => {
  await applySpec(db(), demoSpec({ trainWindowDays: 3, holdoutDays: 1 }));
}, 120_000);

/** Requests a run from a spawned worker and waits until it is scoring. */
async function runUntilScoring() {
  const worker = spawnWorker({ DATABASE_URL: database.url, ALMANAC_REDIS_PREFIX: prefix.current });
  cleanups.push(async () => {
    if (worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
  });
  // only the producer side here: the job must go to the spawned worker first
  const producer = await startPipeline(database.url, prefix.current, { worker: false });
  cleanups.push(producer.close);
  const { run } = await requestRefresh(db(), producer.enqueue, { model: 'prices', trigger: 'test' });
  await waitFor(
    async () => ((await findRun(db(), run.id))?.phase === 'scoring' ? true : undefined),
    30_000,
    `the spawned worker to start scoring\n${worker.output()}`,
  );
  return { worker, run };
}

describe('a refresh survives its worker', () => {
  it('SIGKILLed in the middle of scoring: another worker completes exactly one version', async () => {
    const { worker, run } = await runUntilScoring();
    worker.child.kill('SIGKILL');
    await worker.exited;

    const rescuer = await startPipeline(database.url, prefix.current, {
      tuning: { lockDuration: 2000, stalledInterval: 1000 },
    });
    cleanups.push(rescuer.close);
    const finished = await waitForRun(db(), run.id, 60_000);
    expect(finished).toMatchObject({ state: 'succeeded', version: 1, attempts: 2 });
    const versions = await listVersions(db(), 'prices', { limit: 10 });
    expect(versions.map((v) => [v.number, v.state, v.rowCount])).toEqual([[1, 'published', KEYS]]);
    expect(await strayTables(db())).toEqual([]);
    const { rows } = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM latest_estimates WHERE model = 'prices'`.execute(db());
    expect(Number(rows[0]?.n)).toBe(KEYS);
  });

  it('a stalled attempt that wakes after its replacement took over cannot publish', async () => {
    const before = (await listVersions(db(), 'prices', { limit: 10 })).length;
    const { worker, run } = await runUntilScoring();
    worker.child.kill('SIGSTOP');

    const replacement = await startPipeline(database.url, prefix.current, {
      tuning: { lockDuration: 2000, stalledInterval: 1000 },
    });
    cleanups.push(replacement.close);
    const finished = await waitForRun(db(), run.id, 60_000);
    expect(finished).toMatchObject({ state: 'succeeded', attempts: 2 });

    // The stalled attempt resumes: its connection was terminated when the replacement took the
    // version's lock, so it can write nothing more.
    await resumeStalled(worker, /lost its database connection|refresh attempt failed|refresh failed/, 20_000);
    worker.child.kill('SIGTERM');
    await worker.exited;

    expect(await findRun(db(), run.id)).toMatchObject({ state: 'succeeded', error: null, attempts: 2 });
    const versions = await listVersions(db(), 'prices', { limit: 10 });
    expect(versions).toHaveLength(before + 1);
    expect(versions[0]).toMatchObject({ number: finished.version, state: 'published', rowCount: KEYS });
    expect(await strayTables(db())).toEqual([]);
  });
});
