import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requestRefresh } from '../../src/runs/request.ts';
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

const KEYS = 100_000;
const QUIET_SECONDS = 15;
const LOADED_SECONDS = 45;
const CONNECTIONS = 16;
/** The API's Node options as docker-compose.yml runs it (its heap capped). */
const API_NODE_OPTIONS = (
  parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
    services: { api: { environment: Record<string, string> } };
  }
).services.api.environment.NODE_OPTIONS;
const database = useTestDatabase('load-publish');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
const market = useMarket({ pool }, { keys: KEYS, days: 3, seed: 37, start: '2026-03-01' });
const stops = useCleanups();
let keys: string[] = [];

beforeAll(async () => {
  await applySpec(db(), demoSpec({ trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift }));
  await publishFirst(database.url, 'prices');
  const { rows } = await sql<{ key: string }>`SELECT key FROM latest_estimates ORDER BY key`.execute(db());
  keys = rows.map((row) => row.key);
}, 180_000);

const rssMb = (pid: number) => {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(line?.[1] ?? 0) / 1024);
};

type Answer = {
  at: number;
  status: number;
  keys: string[];
  version?: number;
  values?: (number | undefined)[];
};

/** Lookups at full speed: single keys (one in twenty unknown) and batches of 100, every answer kept. */
function lookups(url: string, seconds: number, answers: Answer[]) {
  const pick = () => keys[Math.floor(Math.random() * keys.length)] ?? '';
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (request, context: { keys?: string[] }) => {
          const key = Math.random() < 0.05 ? `NO-SUCH-KEY-${Math.random()}` : pick();
          context.keys = [key];
          return { ...request, path: `/v1/models/prices/estimates/${encodeURIComponent(key)}` };
        },
        onResponse: (status, body, context: { keys?: string[] }) => {
          const parsed = JSON.parse(body) as { version?: number; value?: number };
          answers.push({
            at: Date.now(),
            status,
            keys: context.keys ?? [],
            version: parsed.version,
            values: [parsed.value],
          });
        },
      },
      {
        method: 'POST',
        setupRequest: (request, context: { keys?: string[] }) => {
          context.keys = Array.from({ length: 100 }, pick);
          return {
            ...request,
            path: '/v1/models/prices/estimates/batch',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ keys: context.keys }),
          };
        },
        onResponse: (status, body, context: { keys?: string[] }) => {
          const parsed = JSON.parse(body) as {
            version?: number;
            estimates?: { key: string; value: number }[];
          };
          const values = new Map(parsed.estimates?.map((e) => [e.key, e.value]));
          const asked = context.keys ?? [];
          answers.push({
            at: Date.now(),
            status,
            keys: asked,
            version: parsed.version,
            values: asked.map((k) => values.get(k)),
          });
        },
      },
    ],
  });
}

describe('lookups at full speed while refreshes publish and a rollback happens', () => {
  it('answer only 200 (404 for unknown keys), each from a version published at that moment, whole', async () => {
    const port = await freePort();
    const env = {
      DATABASE_URL: database.url,
      ALMANAC_REDIS_PREFIX: prefix.current,
      ALMANAC_AUTH: 'off',
      LOG_LEVEL: 'warn',
    };
    const api: RunningBin = startBin(['serve'], {
      ...env,
      PORT: String(port),
      ALMANAC_RATE_LIMIT: '0',
      NODE_OPTIONS: API_NODE_OPTIONS,
    });
    stops.push(() => api.stop('SIGKILL'));
    await waitFor(
      async () => (api.output().includes('listening') ? true : undefined),
      30_000,
      `the API\n${api.output()}`,
    );
    const worker = spawnWorker({ ...env, ALMANAC_JOB_LOCK_MS: '30000' });
    stops.push(() => worker.stop('SIGKILL'));
    const producer = await startPipeline(database.url, prefix.current, { worker: false });
    stops.push(producer.close);
    const pid = api.child.pid ?? 0;
    const rss: { at: number; mb: number }[] = [];
    const sampler = setInterval(() => rss.push({ at: Date.now(), mb: rssMb(pid) }), 1_000);
    stops.push(async () => clearInterval(sampler));
    const url = `http://127.0.0.1:${port}`;

    const answers: Answer[] = [];
    const quiet = await lookups(url, QUIET_SECONDS, answers);
    const quietRss = rssMb(pid);

    const loaded = lookups(url, LOADED_SECONDS, answers);
    const changes = (async () => {
      for (let i = 0; i < 3; i += 1) {
        await market.advance(1);
        const { run } = await requestRefresh(db(), producer.enqueue, { model: 'prices', trigger: 'load' });
        expect(await waitForRun(db(), run.id, 120_000)).toMatchObject({ state: 'succeeded' });
      }
      const { rows } = await sql<{ number: number }>`
        SELECT number FROM versions WHERE model = 'prices' AND state = 'superseded' ORDER BY number DESC LIMIT 1`.execute(
        db(),
      );
      const res = await fetch(`${url}/v1/models/prices/versions/${rows[0]?.number}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'rollback under load' }),
      });
      expect(res.status).toBe(200);
    })();
    const [during] = await Promise.all([loaded, changes]);
    clearInterval(sampler);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const heap = (name: string) =>
      Math.round(
        Number(new RegExp(`^almanac_nodejs_heap_size_${name}_bytes (\\S+)$`, 'm').exec(metrics)?.[1]) /
          2 ** 20,
      );

    console.info(
      [
        `quiet: ${Math.round(quiet.requests.average)} req/s, p50 ${quiet.latency.p50} ms, p99 ${quiet.latency.p99} ms`,
        `during publishes: ${Math.round(during.requests.average)} req/s, p50 ${during.latency.p50} ms, p99 ${during.latency.p99} ms`,
        `API RSS (MB) each second: ${rss.map((s) => s.mb).join(' ')}`,
        `API heap at the end: ${heap('used')} MB used of ${heap('total')} MB (quiet-phase RSS ${quietRss} MB)`,
      ].join('\n'),
    );

    // nothing but answers: no error, no timeout, no status but 200 and 404 for unknown keys
    expect([quiet.errors, quiet.timeouts, during.errors, during.timeouts]).toEqual([0, 0, 0, 0]);
    const wrongStatus = answers.filter((a) =>
      a.keys[0]?.startsWith('NO-SUCH-KEY-') === true ? a.status !== 404 : a.status !== 200,
    );
    expect(wrongStatus.slice(0, 5)).toEqual([]);

    // each answer's version was the published one at some instant while it was asked
    const { rows: intervals } = await sql<{ number: number; from: Date; to: Date | null }>`
      SELECT v.number, p.valid_from AS from, p.valid_to AS to FROM publications p
      JOIN versions v ON v.id = p.version_id WHERE p.model = 'prices'`.execute(db());
    expect(intervals.length).toBe(5);
    const slack = 2_000;
    const servedThen = (a: Answer) =>
      intervals.some(
        (i) =>
          i.number === a.version &&
          i.from.getTime() <= a.at &&
          (i.to === null || i.to.getTime() >= a.at - slack),
      );
    const found = answers.filter((a) => a.status === 200);
    const late = found.filter((a) => !servedThen(a));
    const lateBy = late.map((a) => {
      const ended = intervals.find((i) => i.number === a.version && i.to !== null && i.to.getTime() < a.at);
      return a.at - (ended?.to?.getTime() ?? a.at);
    });
    console.info(
      `answers after their version's interval ended: ${late.length}, by up to ${Math.max(0, ...lateBy)} ms`,
    );
    expect(late.slice(0, 5)).toEqual([]);
    expect(new Set(found.map((a) => a.version)).size).toBeGreaterThanOrEqual(4);

    // and its values are that version's own, for every key of a batch (one in fifty answers checked)
    const sample = found.filter((_, i) => i % 50 === 0);
    const mismatches: string[] = [];
    for (const answer of sample) {
      const { rows } = await sql<{ key: string; value: number }>`
        SELECT key, value FROM served_estimates
        WHERE model = 'prices' AND version = ${answer.version ?? -1} AND key = ANY(${answer.keys})`.execute(
        db(),
      );
      const truth = new Map(rows.map((row) => [row.key, row.value]));
      answer.keys.forEach((key, i) => {
        if (truth.get(key) !== answer.values?.[i]) mismatches.push(`${key}@${answer.version}`);
      });
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(await invariantViolations(db(), pool())).toEqual([]);
    // memory levels off: the last 20 s reach no more than 15% above the peak before them
    const samples = rss.map((sample) => sample.mb);
    const [before, last] = [samples.slice(0, -20), samples.slice(-20)];
    expect(Math.max(...last)).toBeLessThanOrEqual(Math.max(...before) * 1.15);
    // old space capped (256 MB), plus young space, code and buffers: about 310 MB (520 uncapped)
    expect(Math.max(...samples)).toBeLessThan(400);
  });
});
