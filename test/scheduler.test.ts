import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { startScheduler } from '../jobs/scheduler.ts';
import type { RefreshPayload } from '../src/runs/request.ts';
import { slotOf } from '../src/runs/request.ts';
import { useConnections, useMarket, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, demoSpec, silentLogger } from './helpers/pipeline.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('scheduler');
const { db, pool } = useConnections(database);
useMarket({ pool }, { keys: 10, days: 10, seed: 1 });
const stops: (() => Promise<void>)[] = [];
const enqueued: { jobId: string; payload: RefreshPayload }[] = [];

// The queue is not what is under test here (the pipeline tests cover it): the scheduler's
// enqueue is recorded, and the runs table, which decides, is real.
const enqueue = async (jobId: string, payload: RefreshPayload) => {
  enqueued.push({ jobId, payload });
};

afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
  enqueued.length = 0;
  await sql`DELETE FROM runs`.execute(db());
});

async function scheduler(pollMs = 10_000) {
  const running = await startScheduler({ db: db(), enqueue, logger: silentLogger, pollMs });
  stops.push(running.close);
  return running;
}

async function runsOf(model: string) {
  const { rows } = await sql<{ slot: string; trigger: string }>`
    SELECT slot, trigger FROM runs WHERE model = ${model} ORDER BY slot`.execute(db());
  return rows;
}

describe('the scheduler', () => {
  it('makes slots from cron ticks: the UTC minute without colons', () => {
    expect(slotOf(new Date('2026-11-28T02:00:00.000Z'))).toBe('20261128T0200Z');
    expect(slotOf(new Date('2026-11-28T02:00:59.999Z'))).toBe('20261128T0200Z');
  });

  it('catches up the latest slot missed while it was down, once, even with two schedulers', async () => {
    await applySpec(
      db(),
      demoSpec({ name: 'hourly', schedule: { cron: '7 * * * *', timezone: 'Europe/Paris' } }),
    );
    await sql`UPDATE models SET created_at = now() - interval '1 day' WHERE name = 'hourly'`.execute(db());
    await Promise.all([scheduler(), scheduler()]);
    const now = new Date();
    const latest = new Date(now);
    latest.setUTCMinutes(7, 0, 0);
    if (latest > now) latest.setUTCHours(latest.getUTCHours() - 1);
    expect(await runsOf('hourly')).toEqual([{ slot: slotOf(latest), trigger: 'cron' }]);
    // A run still queued may be enqueued again (healing a lost enqueue); the job id makes BullMQ
    // keep one job.
    expect([...new Set(enqueued.map((job) => job.jobId))]).toEqual([`refresh.hourly.${slotOf(latest)}`]);
    await scheduler();
    expect(await runsOf('hourly')).toHaveLength(1);
  });

  it('does not catch up a tick from before the model existed', async () => {
    await applySpec(db(), demoSpec({ name: 'fresh', schedule: { cron: '0 0 1 1 *' } }));
    await scheduler();
    expect(await runsOf('fresh')).toEqual([]);
  });

  it('gives one run per slot when two schedulers fire the same tick', async () => {
    await applySpec(db(), demoSpec({ name: 'twice' }));
    const [a, b] = await Promise.all([scheduler(), scheduler()]);
    const tick = new Date('2026-11-28T02:00:00Z');
    await Promise.all([a.tick('twice', tick), b.tick('twice', tick), a.tick('twice', tick)]);
    expect(await runsOf('twice')).toEqual([{ slot: '20261128T0200Z', trigger: 'cron' }]);
  });

  it('fires real node-cron ticks and requests the slot', async () => {
    await applySpec(db(), demoSpec({ name: 'ticking' }));
    // Every second (a six-field cron that specs refuse, set directly to keep the test short): all
    // ticks within one minute are one slot.
    await sql`UPDATE models SET spec = jsonb_set(spec, '{schedule,cron}', '"* * * * * *"') WHERE name = 'ticking'`.execute(
      db(),
    );
    await Promise.all([scheduler(), scheduler()]);
    const runs = await waitFor(
      async () => {
        const found = await runsOf('ticking');
        return found.length > 0 ? found : undefined;
      },
      5_000,
      'a cron tick',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // a snapshot of the ticks first: a run is inserted before its job is asked for
    const ticked = enqueued.filter((job) => job.jobId.startsWith('refresh.ticking.')).map((job) => job.jobId);
    const { rows } = await sql<{ slot: string; n: string }>`
      SELECT slot, count(*) AS n FROM runs WHERE model = 'ticking' GROUP BY slot`.execute(db());
    expect(rows.every((row) => row.n === '1')).toBe(true);
    expect(runs[0]?.slot).toMatch(/^\d{8}T\d{4}Z$/);
    // every tick of either scheduler asked for the job of a slot that has its run
    expect(ticked.length).toBeGreaterThan(0);
    const slots = new Set(rows.map((row) => `refresh.ticking.${row.slot}`));
    expect(ticked.filter((jobId) => !slots.has(jobId))).toEqual([]);
  });

  it('picks up specs applied, paused and changed while it runs', async () => {
    const running = await scheduler(100);
    const scheduledNow = () => running.scheduled();
    await applySpec(db(), demoSpec({ name: 'late', schedule: { cron: '0 3 * * *', paused: true } }));
    await running.sync();
    expect(scheduledNow().has('late')).toBe(false);
    await applySpec(db(), demoSpec({ name: 'late', schedule: { cron: '0 3 * * *' } }));
    await waitFor(
      async () => (scheduledNow().has('late') ? true : undefined),
      2_000,
      'the new spec to be scheduled',
    );
    expect(scheduledNow().get('late')).toBe('0 3 * * *|UTC');
    await applySpec(
      db(),
      demoSpec({ name: 'late', schedule: { cron: '30 4 * * *', timezone: 'Asia/Tokyo' } }),
    );
    await waitFor(
      async () => (scheduledNow().get('late') === '30 4 * * *|Asia/Tokyo' ? true : undefined),
      2_000,
      'the changed cron',
    );
    await applySpec(db(), demoSpec({ name: 'late', schedule: { cron: '30 4 * * *', paused: true } }));
    await waitFor(async () => (scheduledNow().has('late') ? undefined : true), 2_000, 'the pause');
  });
});
