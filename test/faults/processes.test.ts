import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findVersion } from '../../src/db/versions.ts';
import { requestRefresh, slotOf } from '../../src/runs/request.ts';
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
import { freePort } from '../helpers/services.ts';
import { type RunningBin, startBin } from '../helpers/spawn.ts';
import { spawnWorker, waitFor } from '../helpers/worker-process.ts';

const database = useTestDatabase('fault-processes');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
useMarket({ pool }, { keys: 2_000, days: 30, seed: 31 });
const cleanups = useCleanups();

beforeAll(async () => {
  await applySpec(db(), demoSpec({ drift: lenientDrift }));
  await publishFirst(database.url, 'prices');
}, 120_000);

function spawned(args: string[], env: Record<string, string> = {}): RunningBin {
  const running = startBin(args, {
    DATABASE_URL: database.url,
    ALMANAC_REDIS_PREFIX: prefix.current,
    ALMANAC_AUTH: 'off',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    ...env,
  });
  cleanups.push(async () => {
    await running.stop('SIGKILL');
  });
  return running;
}

const untilLogged = (process: RunningBin, text: string, what: string) =>
  waitFor(
    async () => (process.output().includes(text) ? true : undefined),
    30_000,
    `${what}\n${process.output()}`,
  );

describe('processes killed', () => {
  it('the API, SIGKILLed and started again while clients read: every answer is whole, and answers resume', async () => {
    const port = String(await freePort());
    const { rows } = await sql<{ key: string }>`SELECT key FROM latest_estimates LIMIT 50`.execute(db());
    const keys = rows.map((row) => row.key);
    const published = await findVersion(db(), 'prices', 1);
    let api = spawned(['serve'], { PORT: port });
    await untilLogged(api, 'API listening', 'the API');

    const answers: { ok: boolean; status?: number; version?: number; at: number }[] = [];
    let reading = true;
    const readers = Array.from({ length: 4 }, async (_, i) => {
      for (let n = i; reading; n += 1) {
        const key = keys[n % keys.length] ?? '';
        try {
          const res = await fetch(
            `http://127.0.0.1:${port}/v1/models/prices/estimates/${encodeURIComponent(key)}`,
          );
          const body = (await res.json()) as { version?: number };
          answers.push({ ok: true, status: res.status, version: body.version, at: Date.now() });
        } catch {
          answers.push({ ok: false, at: Date.now() });
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await api.stop('SIGKILL');
    const killedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    api = spawned(['serve'], { PORT: port });
    await untilLogged(api, 'API listening', 'the API again');
    await new Promise((resolve) => setTimeout(resolve, 500));
    reading = false;
    await Promise.all(readers);

    const answered = answers.filter((answer) => answer.ok);
    // while it was down, connections were refused; every answer it gave was a whole one
    expect(answers.some((answer) => !answer.ok)).toBe(true);
    expect(
      answered.filter((answer) => answer.status !== 200 || answer.version !== published?.number),
    ).toEqual([]);
    expect(answered.filter((answer) => answer.at > killedAt).length).toBeGreaterThan(10);
  });

  it('the alert holder, killed before its webhook answered: another worker sends the alert, same event id', async () => {
    const requests: { eventId: string | undefined; answered: boolean }[] = [];
    const hanging: ServerResponse[] = [];
    const hook = createServer((req: IncomingMessage, res) => {
      req.resume();
      req.on('end', () => {
        const first = requests.length === 0;
        requests.push({ eventId: req.headers['almanac-event-id'] as string | undefined, answered: !first });
        // the first delivery never gets an answer: its sender dies waiting
        if (first) hanging.push(res);
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const res of hanging) res.destroy();
      await new Promise((resolve) => hook.close(resolve));
    });
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    // a gate no version passes: the run holds its version and alerts
    await applySpec(
      db(),
      demoSpec({ name: 'alerting', drift: { minRows: 1e9 }, alerts: { webhookUrl: url } }),
    );

    const holder = spawnWorker({ DATABASE_URL: database.url, ALMANAC_REDIS_PREFIX: prefix.current });
    cleanups.push(async () => {
      await holder.stop('SIGKILL');
    });
    const producer = await startPipeline(database.url, prefix.current, { worker: false });
    cleanups.push(producer.close);
    const { run } = await requestRefresh(db(), producer.enqueue, { model: 'alerting', trigger: 'fault' });
    expect(await waitForRun(db(), run.id, 60_000)).toMatchObject({ state: 'succeeded' });
    await waitFor(async () => (requests.length === 1 ? true : undefined), 10_000, 'the first delivery');
    await holder.stop('SIGKILL');

    const rescuer = spawnWorker({ DATABASE_URL: database.url, ALMANAC_REDIS_PREFIX: prefix.current });
    cleanups.push(async () => {
      await rescuer.stop('SIGKILL');
    });
    // the alert's lease (the POST's 5 s timeout and a second) runs out, then the rescuer sends it
    await waitFor(
      async () => (requests.length >= 2 ? true : undefined),
      30_000,
      `a second delivery\n${rescuer.output()}`,
      100,
    );
    expect(requests[1]).toEqual({ eventId: requests[0]?.eventId, answered: true });
    // the receiver has answered; the rescuer records the delivery once the answer reaches it
    const outbox = async () =>
      (
        await sql<{ delivered: boolean; attempts: number }>`
          SELECT delivered_at IS NOT NULL AS delivered, attempts FROM alert_outbox WHERE model = 'alerting'`.execute(
          db(),
        )
      ).rows;
    await waitFor(
      async () => ((await outbox())[0]?.delivered === true ? true : undefined),
      10_000,
      `the delivery recorded\n${rescuer.output()}`,
      50,
    );
    expect(await outbox()).toEqual([{ delivered: true, attempts: 2 }]);
  });

  it('schedulers: two at once request each slot once; killed across a slot, the next one catches it up once', async () => {
    await applySpec(
      db(),
      demoSpec({ name: 'minutely', drift: lenientDrift, schedule: { cron: '* * * * *', timezone: 'UTC' } }),
    );
    await sql`UPDATE models SET created_at = now() - interval '1 hour' WHERE name = 'minutely'`.execute(db());
    const slots = async () =>
      (
        await sql<{ slot: string; n: number }>`
          SELECT slot, count(*)::int AS n FROM runs WHERE model = 'minutely' GROUP BY slot ORDER BY slot`.execute(
          db(),
        )
      ).rows;
    const nextMinute = () => {
      const at = new Date();
      at.setUTCSeconds(60, 0);
      return at;
    };
    // not too close to a minute's end: the catch-up and the tick must not race the test
    while (new Date().getUTCSeconds() > 45) await new Promise((resolve) => setTimeout(resolve, 1_000));
    const started = new Date();
    const [a, b] = [spawned(['scheduler']), spawned(['scheduler'])];
    await Promise.all([
      untilLogged(a, 'scheduled', 'scheduler a'),
      untilLogged(b, 'scheduled', 'scheduler b'),
    ]);
    const caughtUp = new Date(started);
    caughtUp.setUTCSeconds(0, 0);
    const firstTick = nextMinute();
    await waitFor(
      async () => ((await slots()).some((s) => s.slot === slotOf(firstTick)) ? true : undefined),
      75_000,
      'the next tick',
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);
    // no scheduler runs across the following tick
    const missed = nextMinute();
    while (Date.now() < missed.getTime() + 1_000) await new Promise((resolve) => setTimeout(resolve, 200));
    const c = spawned(['scheduler']);
    await untilLogged(c, 'catching up a slot missed', 'the catch-up');
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(await slots()).toEqual([
      { slot: slotOf(caughtUp), n: 1 },
      { slot: slotOf(firstTick), n: 1 },
      { slot: slotOf(missed), n: 1 },
    ]);
    // one job per slot in the queue, whoever asked
    const producer = await startPipeline(database.url, prefix.current, { worker: false });
    cleanups.push(producer.close);
    const jobs = await producer.queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
    const ids = jobs.map((job) => job.id).filter((id) => id?.startsWith('refresh.minutely.'));
    expect(ids.sort()).toEqual(
      [slotOf(caughtUp), slotOf(firstTick), slotOf(missed)].map((s) => `refresh.minutely.${s}`),
    );
    await sql`UPDATE runs SET state = 'failed', error = 'not run by this test' WHERE model = 'minutely' AND state = 'queued'`.execute(
      db(),
    );
    expect(await invariantViolations(db(), pool())).toEqual([]);
  });
});
