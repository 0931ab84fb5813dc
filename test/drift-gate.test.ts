import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMetrics, workerMetrics as workerRegistries } from '../jobs/metrics.ts';
import { gateRegistry } from '../src/drift/alerts.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useConnections, useFileRedisPrefix, usePipeline, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, demoSpec, lenientDrift } from './helpers/pipeline.ts';

const database = useTestDatabase('drift_gate');
const { db } = useConnections(database);
const prefix = useFileRedisPrefix();
usePipeline(database, prefix);
let api: TestApi;

/** A webhook receiver that fails its first `failFirst` requests with a 500. */
let hook: Server;
let hookUrl = '';
const received: { body: Record<string, unknown>; status: number }[] = [];
const failFirst = 1;

beforeAll(async () => {
  hook = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = received.length < failFirst ? 500 : 204;
      received.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')), status });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/almanac`;

  expect((await runCli('seed', '--keys', '400', '--days', '40', '--seed', '11')).code).toBe(0);
  api = await startTestApi(database.url, prefix.current);
});
afterAll(async () => {
  await api?.close();
  await new Promise((resolve) => hook.close(resolve));
});

const served = async (model: string) => {
  const response = await api.request(`/v1/models/${model}/versions/latest/snapshot`);
  await response.text();
  return Number(response.headers.get('estimate-version'));
};
const firstKey = async (model: string) => {
  const csv = await (await api.request(`/v1/models/${model}/versions/latest/snapshot`)).text();
  return csv.split('\n')[1]?.split(',')[0] ?? '';
};

describe('the drift gate', () => {
  it('publishes the first version, holds a shocked one, and serves the old one until approval', async () => {
    await applySpec(db(), demoSpec({ name: 'gate', alerts: { webhookUrl: hookUrl } }));
    expect((await runCli('run', 'gate', '--wait')).code).toBe(0);
    const first = await api.json('/v1/models/gate/versions/1/drift');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      baseline: null,
      candidate: { model: 'gate', version: 1 },
      verdict: { passed: true, checks: [{ name: 'minRows', threshold: 1, observed: 400, passed: true }] },
    });
    // the first version is described as any candidate is
    expect(first.body.b).toEqual((await api.json('/v1/models/gate/diff?from=1&to=1')).body.b);
    expect(first.body.a).toMatchObject({ count: 0, mean: null });

    // an ordinary day passes
    expect((await runCli('seed', '--advance', '1')).code).toBe(0);
    expect((await runCli('run', 'gate', '--wait')).code).toBe(0);
    const ordinary = (await api.json('/v1/models/gate/versions/2/drift')).body;
    expect(ordinary.verdict.passed).toBe(true);
    expect(ordinary.verdict.checks.map((check: { name: string }) => check.name)).toEqual([
      'minRows',
      'maxPsi',
      'maxKs',
      'maxWassersteinNorm',
      'maxChangedShare',
      'maxRemovedShare',
    ]);
    expect(ordinary.baseline).toEqual({ model: 'gate', version: 1 });
    expect(received).toEqual([]);

    const heldBefore = await heldCount('gate');
    const key = await firstKey('gate');
    expect((await runCli('seed', '--advance', '1', '--shock', '30')).code).toBe(0);
    const run = await runCli('run', 'gate', '--wait');
    expect(run.code).toBe(3);
    expect(run.stdout).toContain('version 3 of gate (400 keys) was held by the drift gate');
    expect(run.stdout).toMatch(/maxKs\s+0\.1000\s+\S+\s+FAIL/);

    const report = (await api.json('/v1/models/gate/versions/3/drift')).body;
    expect(report.verdict.passed).toBe(false);
    const failed = report.verdict.checks.filter((check: { passed: boolean }) => !check.passed);
    expect(failed.map((check: { name: string }) => check.name)).toEqual(
      expect.arrayContaining(['maxKs', 'maxWassersteinNorm', 'maxChangedShare']),
    );
    expect(report.psi).toBeGreaterThan(ordinary.psi);
    expect(report.a.mean * 1.2).toBeLessThan(report.b.mean);
    expect(report.topMovers.up).toHaveLength(20);
    expect(report.topMovers.up[0].change).toBeGreaterThanOrEqual(report.topMovers.up[19].change);
    expect(report.topMovers.up[0]).toEqual({
      key: expect.any(String),
      a: expect.any(Number),
      b: expect.any(Number),
      change: expect.any(Number),
    });
    expect(report.artifact.baseline.estimator).toBe('ridge');
    expect(report.metrics.delta['holdout.mae']).toBeCloseTo(
      report.metrics.candidate.holdout.mae - report.metrics.baseline.holdout.mae,
      12,
    );

    // held: still served from version 2, and an operator was told
    expect((await api.json('/v1/models/gate/versions/3')).body.state).toBe('held');
    expect((await api.json(`/v1/models/gate/estimates/${key}`)).body.version).toBe(2);
    // the alert goes out after the run is done, retrying a failing webhook
    await expect.poll(() => received.map((r) => r.status), { timeout: 10_000 }).toEqual([500, 204]);
    expect(await heldCount('gate')).toBe(heldBefore + 1);
    expect(received[1]?.body).toEqual({
      eventId: received[0]?.body.eventId,
      event: 'version.held',
      model: 'gate',
      version: 3,
      baseline: 2,
      verdict: report.verdict,
      report: '/v1/models/gate/versions/3/drift',
    });
    const metrics = await (await api.request('/metrics')).text();
    expect(metrics).toMatch(/almanac_versions_held\{model="gate"\} 1/);
    // the worker (in this process here) serves the gate's counter on a port of its own
    const workerMetrics = await serveMetrics(workerRegistries, {
      port: 0,
      host: '127.0.0.1',
      prefix: 'almanac_worker_',
      idleTimeoutMs: 10_000,
    });
    try {
      const scraped = await (await fetch(`${workerMetrics.url}/metrics`)).text();
      expect(scraped).toContain(`almanac_drift_gate_held_total{model="gate"} ${heldBefore + 1}`);
      expect(scraped).toMatch(/almanac_jobs_total\{name="refresh",outcome="completed"\} \d+/);
      expect(await (await fetch(`${workerMetrics.url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${workerMetrics.url}/other`)).status).toBe(404);
    } finally {
      await workerMetrics.close();
    }

    const approved = await api.post('/v1/models/gate/versions/3/publish', { reason: 'the market did move' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ version: 3, state: 'published' });
    expect((await api.json(`/v1/models/gate/estimates/${key}`)).body.version).toBe(3);
    const detail = (await api.json('/v1/models/gate/versions/3')).body;
    expect(detail.lineage.published).toMatchObject({ reason: 'the market did move', at: detail.publishedAt });
  });

  it('rejects a held version from the CLI with a reason; it is never served', async () => {
    await applySpec(db(), demoSpec({ name: 'gate', drift: { minRows: 1_000 }, alerts: {} }));
    expect((await runCli('run', 'gate', '--wait')).code).toBe(3);
    const rejected = await runCli('reject', 'gate', '4', '--reason', 'not enough keys');
    expect(rejected).toMatchObject({ code: 0, stdout: 'rejected version 4 of gate\n' });
    expect((await api.json('/v1/models/gate/versions/4')).body).toMatchObject({
      state: 'rejected',
      lineage: { rejected: { reason: 'not enough keys' } },
    });
    expect(await served('gate')).toBe(3);
    expect((await api.json(`/v1/models/gate/estimates/${await firstKey('gate')}?version=4`)).status).toBe(
      404,
    );
  });
});

describe('diffs between any two versions', () => {
  it('reports on demand the figures the gate stored, and streams per-key changes that add up to them', async () => {
    const stored = (await api.json('/v1/models/gate/versions/3/drift')).body;
    const diff = await api.json('/v1/models/gate/diff?from=2&to=3');
    expect(diff.status).toBe(200);
    for (const name of [
      'psi',
      'ksStatistic',
      'wasserstein',
      'changedShare',
      'spearman',
      'coverage',
      'a',
      'b',
    ]) {
      expect(diff.body[name]).toEqual(stored[name]);
    }
    expect(diff.body.topMovers).toEqual(stored.topMovers);

    const response = await api.request('/v1/models/gate/diff?from=2&to=3&format=csv');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const text = await response.text();
    expect(text.split('\n')[0]).toBe('key,a,b,change,relative_change,status');
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    const count = (status: string) => rows.filter((row) => row.status === status).length;
    expect(count('added')).toBe(diff.body.coverage.added);
    expect(count('removed')).toBe(diff.body.coverage.removed);
    expect(count('changed') + count('unchanged')).toBe(diff.body.coverage.both);
    expect(count('changed') / diff.body.coverage.both).toBeCloseTo(diff.body.changedShare, 12);
    const mover = diff.body.topMovers.up[0];
    const row = rows.find((r) => r.key === mover.key);
    expect(Number(row?.change)).toBe(mover.change);
    expect(Number(row?.relative_change)).toBeCloseTo(mover.change / Math.abs(mover.a), 12);
  });

  it('marks keys only in one version as added or removed', async () => {
    await applySpec(db(), {
      name: 'ext',
      estimator: 'external',
      drift: { ...lenientDrift, maxRemovedShare: 1 },
    });
    const post = (csv: string) =>
      api.request('/v1/models/ext/versions', {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: csv,
      });
    expect((await post('key,value\na,1\nb,2\nc,3\n')).status).toBe(201);
    expect((await post('key,value\nb,2.5\nc,3.1\nd,4\n')).status).toBe(201);
    const text = await (await api.request('/v1/models/ext/diff?from=1&to=latest&format=csv')).text();
    expect(text).toBe(
      'key,a,b,change,relative_change,status\n' +
        'a,1,,,,removed\n' +
        'b,2,2.5,0.5,0.25,changed\n' +
        'c,3,3.1,0.10000000000000009,0.03333333333333336,unchanged\n' +
        'd,,4,,,added\n',
    );
    const report = (await api.json('/v1/models/ext/diff?from=1&to=2')).body;
    expect(report.coverage).toEqual({ both: 2, removed: 1, added: 1 });
    expect(report.topMovers).toEqual({
      up: [
        { key: 'b', a: 2, b: 2.5, change: 0.5 },
        { key: 'c', a: 3, b: 3.1, change: 0.10000000000000009 },
      ],
      down: [],
    });
  });

  it('answers bad requests with the field, unknown versions with 404', async () => {
    const missing = await api.json('/v1/models/gate/diff?from=1');
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([{ path: 'query.to', message: expect.any(String) }]);
    const format = await api.json('/v1/models/gate/diff?from=1&to=2&format=xml');
    expect(format.status).toBe(400);
    expect(format.body.errors[0]).toMatchObject({ path: 'query.format', message: 'must be json or csv' });
    expect((await api.json('/v1/models/gate/diff?from=1&to=99')).status).toBe(404);
    expect((await api.json('/v1/models/nope/diff?from=1&to=2')).status).toBe(404);
    expect((await api.json('/v1/models/gate/versions/99/drift')).status).toBe(404);
    // a decision's reason sent as anything but JSON is refused, not silently dropped
    const plain = await api.json('/v1/models/gate/versions/4/reject', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'not enough keys',
    });
    expect(plain.status).toBe(415);
  });

  it('prints a readable summary from the CLI, and the whole report with --json', async () => {
    const text = await runCli('diff', 'gate', '2', '3');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('gate: v3 against v2');
    expect(text.stdout).toMatch(/coverage\s+400 \/ 0 \/ 0\s+keys in both \/ removed \/ added/);
    expect(text.stdout).toMatch(/changedShare\s+1\s+share of keys that moved more than 0\.1 of \|a\|/);
    expect(text.stdout).toContain('verdict: FAILED');
    const json = await runCli('diff', 'gate', '2', '3', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ baseline: { version: 2 }, candidate: { version: 3 } });
    const bad = await runCli('diff', 'gate', 'two', '3');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('A: must be a version number (1 to 2147483647) or "latest"');
    const huge = await runCli('diff', 'gate', '1', '99999999999');
    expect(huge).toMatchObject({ code: 2, stderr: expect.stringContaining('B: must be a version number') });
    expect((await runCli('publish', 'gate', '1e0')).code).toBe(2);
    expect((await api.post('/v1/models/gate/versions/9999999999/publish', {})).status).toBe(400);
  });
});

async function heldCount(model: string): Promise<number> {
  const metric = await gateRegistry.getSingleMetric('almanac_drift_gate_held_total')?.get();
  return metric?.values.find((value) => value.labels.model === model)?.value ?? 0;
}
