import { sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunPhase } from '../../src/db/types.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import { startTestApi, type TestApi } from '../helpers/api.ts';
import { useCleanups, useConnections, useMarket, useRedisPrefix, useTestDatabase } from '../helpers/hooks.ts';
import { invariantViolations } from '../helpers/invariants.ts';
import {
  applySpec,
  demoSpec,
  lenientDrift,
  publishFirst,
  startPipeline,
  waitForRun,
} from '../helpers/pipeline.ts';
import type { RunningBin } from '../helpers/spawn.ts';
import { spawnWorker, waitFor } from '../helpers/worker-process.ts';

const KEYS = 100_000;
const LOCK_MS = 2_000;
const database = useTestDatabase('fault-worker-kill');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
useMarket({ pool }, { keys: KEYS, days: 3, seed: 17, start: '2026-03-01' });
const cleanups = useCleanups();
let api: TestApi;
let keys: string[] = [];

beforeAll(async () => {
  await applySpec(
    db(),
    demoSpec({ trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift, retention: { keepVersions: 3 } }),
  );
  // a published version first, so that readers have something to read throughout
  await publishFirst(database.url, 'prices');
  const { rows } = await sql<{ key: string }>`
    SELECT key FROM latest_estimates WHERE model = 'prices' ORDER BY random() LIMIT 2000`.execute(db());
  keys = rows.map((row) => row.key);
  api = await startTestApi(database.url, 'almanac-test-no-queue');
  // Training is the fit, arithmetic over in milliseconds: a run leaves it only once this trigger
  // gets the advisory lock that the training case holds (blockers below).
  await sql`CREATE FUNCTION hold_training() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$`.execute(db());
  await sql`CREATE TRIGGER hold_training BEFORE UPDATE OF phase ON runs FOR EACH ROW
    WHEN (OLD.phase = 'training' AND NEW.phase <> 'training') EXECUTE FUNCTION hold_training()`.execute(db());
}, 180_000);
afterAll(async () => {
  await api?.close();
});

function worker(): RunningBin {
  const running = spawnWorker({
    DATABASE_URL: database.url,
    ALMANAC_REDIS_PREFIX: prefix.current,
    ALMANAC_JOB_LOCK_MS: String(LOCK_MS),
  });
  cleanups.push(async () => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
    await running.exited;
  });
  return running;
}

/** Holds a lock in a transaction of its own until released: it stops a worker in a chosen place. */
async function hold(statement: string): Promise<() => Promise<void>> {
  const client: pg.PoolClient = await pool().connect();
  await client.query('BEGIN');
  await client.query(statement);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await client.query('ROLLBACK');
    client.release();
  };
  cleanups.push(release);
  return release;
}

/** Reads random keys through the API until stopped: every answer, with the version it named. */
function reader() {
  const answers: { status: number; version: number | undefined }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const key = keys[Math.floor(Math.random() * keys.length)] ?? '';
      const res = await api.json(`/v1/models/prices/estimates/${encodeURIComponent(key)}`);
      answers.push({ status: res.status, version: res.body.version });
      // a steady trickle, not a flood: the worker needs the cores to get through its phases
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  // a case that fails before it stops its reader: the reader stops before the API goes
  cleanups.push(async () => {
    stopped = true;
    await loop.catch(() => {});
  });
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return answers;
    },
  };
}

const phaseOf = async (runId: string) =>
  (
    await sql<{
      phase: RunPhase;
      attempts: number;
    }>`SELECT phase, attempts FROM runs WHERE id = ${runId}`.execute(db())
  ).rows[0];

/** Where a worker is stopped, so that it is surely in `phase` when it is killed; none: it is caught there. */
const blockers: Partial<Record<RunPhase, string>> = {
  // the trigger of beforeAll keeps the run in training
  training: 'SELECT pg_advisory_xact_lock(4242)',
  // ATTACH PARTITION waits for this lock on the parent, after the index is built
  indexing: 'LOCK TABLE ONLY estimates IN SHARE UPDATE EXCLUSIVE MODE',
  // the gate waits for the model's lock
  validating: "SELECT pg_advisory_xact_lock(hashtextextended('almanac-model:prices', 0))",
  // the publish waits to move the model's pointer
  publishing: "SELECT 1 FROM models WHERE name = 'prices' FOR UPDATE",
};

describe('a worker SIGKILLed in each phase', () => {
  const phases: RunPhase[] = ['checking', 'training', 'scoring', 'indexing', 'validating', 'publishing'];
  it.each(phases)(
    'in %s: another takes the run over within the lock time and publishes it once',
    async (phase) => {
      const before = await sql<{ n: number }>`SELECT count(*)::int AS n FROM versions`.execute(db());
      const first = worker();
      const producer = await startPipeline(database.url, prefix.current, { worker: false });
      cleanups.push(producer.close);
      const reading = reader();

      // the source held: the first worker takes the job and waits in checking
      const releaseSource = await hold('LOCK TABLE demo.daily_prices IN ACCESS EXCLUSIVE MODE');
      const { run } = await requestRefresh(db(), producer.enqueue, { model: 'prices', trigger: 'fault' });
      await waitFor(
        async () => ((await phaseOf(run.id))?.phase === 'checking' ? true : undefined),
        30_000,
        `checking\n${first.output()}`,
      );
      // the rescuer starts only now, so that the job is the first worker's
      const rescuer = worker();
      await waitFor(
        async () => (rescuer.output().includes('worker started') ? true : undefined),
        30_000,
        'the rescuer',
      );
      const blocker = blockers[phase];
      const releaseBlocker = blocker === undefined ? async () => {} : await hold(blocker);
      await releaseSource();
      await waitFor(
        async () => ((await phaseOf(run.id))?.phase === phase ? true : undefined),
        60_000,
        `the first worker to reach ${phase}\n${first.output()}`,
        5,
      );
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await first.exited;
      await releaseBlocker();

      await waitFor(
        async () => (((await phaseOf(run.id))?.attempts ?? 0) >= 2 ? true : undefined),
        30_000,
        `a second attempt\n${rescuer.output()}`,
      );
      const recoveredInMs = Date.now() - killedAt;
      const finished = await waitForRun(db(), run.id, 60_000);
      const answers = await reading.stop();
      console.info(
        `killed in ${phase}: the run was taken over after ${recoveredInMs} ms (lock ${LOCK_MS} ms)`,
      );

      expect(finished).toMatchObject({ state: 'succeeded', attempts: 2 });
      expect(recoveredInMs).toBeLessThan(LOCK_MS + 3_000);
      expect(await invariantViolations(db(), pool())).toEqual([]);
      const after = await sql<{ n: number }>`SELECT count(*)::int AS n FROM versions`.execute(db());
      expect(after.rows[0]?.n).toBe((before.rows[0]?.n ?? 0) + 1);
      // readers saw only whole, published versions, and never an error
      expect(answers.length).toBeGreaterThan(10);
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
      const seen = [...new Set(answers.map((answer) => answer.version))];
      const { rows: states } = await sql<{ number: number; state: string }>`
      SELECT number, state FROM versions WHERE model = 'prices' AND number = ANY(${seen})`.execute(db());
      expect(states.every((version) => version.state === 'published' || version.state === 'superseded')).toBe(
        true,
      );
      expect(states).toHaveLength(seen.length);
    },
  );
});
