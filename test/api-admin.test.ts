import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/keys/api-keys.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useConnections, useFileRedisPrefix, useMarket, useTestDatabase } from './helpers/hooks.ts';
import { demoSpec, startPipeline, waitForRun } from './helpers/pipeline.ts';

const database = useTestDatabase('api_admin');
const { db, pool } = useConnections(database);
useMarket({ pool }, { keys: 100, days: 20, seed: 6 });
// one Redis prefix for the file, also the CLI's (ALMANAC_REDIS_PREFIX)
const prefix = useFileRedisPrefix().current;
let api: TestApi;
let admin = '';
let reader = '';
const as = (key: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${key}`,
  ...extra,
});

beforeAll(async () => {
  admin = await createApiKey(db(), 'ops', 'admin');
  reader = await createApiKey(db(), 'dash', 'read');
  api = await startTestApi(database.url, prefix, { auth: true, maxImportBytes: 200_000 });
}, 60_000);
afterAll(async () => {
  await api?.close();
});

describe('auth', () => {
  it('answers 401 without a key or with a bad one, naming the scheme', async () => {
    const none = await api.json('/v1/models');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await api.json('/v1/models', { headers: as('alm_wrong') })).status).toBe(401);
    expect((await api.json('/v1/models', { headers: { authorization: `Basic ${admin}` } })).status).toBe(401);
  });

  it('refuses a key in the query string', async () => {
    const res = await api.json(`/v1/models?api_key=${admin}`, { headers: as(admin) });
    expect(res).toMatchObject({ status: 400, body: { detail: expect.stringContaining('in the URL') } });
  });

  it('answers 403 when the scope is missing, and revocation takes effect at once', async () => {
    expect((await api.json('/v1/models', { headers: as(reader) })).status).toBe(200);
    const put = await api.json('/v1/models/x', {
      method: 'PUT',
      headers: as(reader, { 'content-type': 'application/json' }),
      body: '{}',
    });
    expect(put.status).toBe(403);
    const temporary = await createApiKey(db(), 'temp', 'read');
    expect((await api.json('/v1/models', { headers: as(temporary) })).status).toBe(200);
    await sql`UPDATE api_keys SET revoked_at = now() WHERE name = 'temp'`.execute(db());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await api.json('/v1/models', { headers: as(temporary) })).status).toBe(401);
  });

  it('leaves health, readiness and metrics open', async () => {
    expect((await api.json('/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.json('/readyz')).body).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok' },
      stale: [],
    });
    const metrics = await api.request('/metrics');
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('almanac_http_request_duration_seconds_bucket');
    expect(text).toContain('almanac_estimate_cache_hit_ratio');
  });
});

describe('models', () => {
  it('PUT validates in full (400 with every problem), creates (201), then updates (200)', async () => {
    const bad = await api.json('/v1/models/prices', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        ...demoSpec({ name: undefined }),
        schedule: { cron: '0 2 * *' },
        source: { ...demoSpec().source, features: ['close', 'nope'] },
      }),
    });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { path: string }[]).map((e) => e.path)).toEqual([
      'body.schedule.cron',
      'body.source.features.1',
    ]);
    const body = JSON.stringify({ ...demoSpec(), name: undefined });
    const created = await api.json('/v1/models/prices', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body,
    });
    expect(created).toMatchObject({
      status: 201,
      body: { name: 'prices', estimator: 'ridge', publishedVersion: null },
    });
    const updated = await api.json('/v1/models/prices', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body,
    });
    expect(updated.status).toBe(200);
    const mismatch = await api.json('/v1/models/prices', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body: JSON.stringify({ ...demoSpec(), name: 'other' }),
    });
    expect(mismatch).toMatchObject({ status: 400, body: { errors: [{ path: 'body.name' }] } });
  });

  it('lists models with their published version, and shows one', async () => {
    const list = await api.json('/v1/models', { headers: as(reader) });
    expect(list.body.items).toEqual([expect.objectContaining({ name: 'prices', publishedVersion: null })]);
    const one = await api.json('/v1/models/prices', { headers: as(reader) });
    expect(one.body).toMatchObject({ name: 'prices', spec: { trainWindowDays: 20 }, published: null });
    // the API's words are for API clients: no CLI command to run
    expect(await api.json('/v1/models/ghost', { headers: as(reader) })).toMatchObject({
      status: 404,
      body: { detail: 'model "ghost" does not exist' },
    });
  });
});

describe('runs and versions', () => {
  it('POST runs answers 202 with a run id that a worker then completes', async () => {
    const pipeline = await startPipeline(database.url, prefix);
    try {
      const res = await api.post('/v1/models/prices/runs', {}, as(admin));
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`/v1/runs/${res.body.runId}`);
      const finished = await waitForRun(db(), res.body.runId as string);
      expect(finished.state).toBe('succeeded');
      const run = await api.json(`/v1/runs/${res.body.runId}`, { headers: as(reader) });
      expect(run.body).toMatchObject({ state: 'succeeded', phase: 'done', version: 1, trigger: 'api:ops' });
      await api
        .post('/v1/models/prices/runs', {}, as(admin))
        .then((r) => waitForRun(db(), r.body.runId as string));
      await api
        .post('/v1/models/prices/runs', {}, as(admin))
        .then((r) => waitForRun(db(), r.body.runId as string));
    } finally {
      await pipeline.close();
    }
    const runs = await api.json('/v1/models/prices/runs?limit=2', { headers: as(reader) });
    expect((runs.body.items as unknown[]).length).toBe(2);
    const rest = await api.json(`/v1/models/prices/runs?limit=2&cursor=${runs.body.nextCursor}`, {
      headers: as(reader),
    });
    expect((rest.body.items as unknown[]).length).toBe(1);
    expect(rest.body.nextCursor).toBeNull();
    expect((await api.json('/v1/runs/not-a-uuid', { headers: as(reader) })).status).toBe(400);
    expect(
      (await api.json('/v1/runs/00000000-0000-4000-8000-000000000000', { headers: as(reader) })).status,
    ).toBe(404);
    expect((await api.json('/v1/models/prices/runs?cursor=bogus', { headers: as(reader) })).status).toBe(400);
  });

  it('lists versions newest first with a cursor and a state filter, and shows one with its lineage', async () => {
    const page = await api.json('/v1/models/prices/versions?limit=2', { headers: as(reader) });
    expect((page.body.items as { version: number }[]).map((v) => v.version)).toEqual([3, 2]);
    const next = await api.json(`/v1/models/prices/versions?limit=2&cursor=${page.body.nextCursor}`, {
      headers: as(reader),
    });
    expect((next.body.items as { version: number }[]).map((v) => v.version)).toEqual([1]);
    const published = await api.json('/v1/models/prices/versions?state=published', { headers: as(reader) });
    expect((published.body.items as { version: number }[]).map((v) => v.version)).toEqual([3]);
    const latest = await api.json('/v1/models/prices/versions/latest', { headers: as(reader) });
    expect(latest.body).toMatchObject({
      version: 3,
      state: 'published',
      lineage: { estimator: 'ridge', trigger: 'api:ops' },
    });
    for (const bad of ['?limit=0', '?limit=1001', '?state=live', '?cursor=-3', '?cursor=2147483648']) {
      const refused = await api.json(`/v1/models/prices/versions${bad}`, { headers: as(reader) });
      expect(refused.status).toBe(400);
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual([
        `query.${bad.slice(1).split('=')[0]}`,
      ]);
    }
  });

  it('refuses free text with control characters or a lone surrogate, naming the field, changing nothing', async () => {
    const before = (await api.json('/v1/models/prices/versions', { headers: as(reader) })).body;
    for (const reason of ['a\u0000b', 'a\ud800b', '\u001b[31mred', 'two\r\nlines']) {
      const refused = await api.post('/v1/models/prices/versions/2/publish', { reason }, as(admin));
      expect(refused.status).toBe(400);
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.reason']);
    }
    const note = await api.json('/v1/models/prices/pins/svc', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body: JSON.stringify({ version: 2, note: 'fake\nline' }),
    });
    expect(note.status).toBe(400);
    expect(note.body.errors).toEqual([
      { path: 'body.note', message: 'must not contain control characters (line breaks included)' },
    ]);
    expect((await api.json('/v1/models/prices/versions', { headers: as(reader) })).body).toEqual(before);
  });

  it('publishes (roll back) and rejects with state checks, recording the key as actor', async () => {
    // v2 is superseded: an approval (from held) of it is refused, and changes nothing
    const approval = await api.post('/v1/models/prices/versions/2/publish', { from: 'held' }, as(admin));
    expect(approval).toMatchObject({ status: 409, body: { detail: expect.stringMatching(/superseded/) } });
    const wrongFrom = await api.post('/v1/models/prices/versions/2/publish', { from: 'live' }, as(admin));
    expect(wrongFrom.body.errors).toEqual([{ path: 'body.from', message: 'must be "held" or "superseded"' }]);
    const rollback = await api.post(
      '/v1/models/prices/versions/2/publish',
      { reason: 'v3 is off', from: 'superseded' },
      as(admin),
    );
    expect(rollback).toMatchObject({ status: 200, body: { version: 2, state: 'published' } });
    const { rows } = await sql<{ actor: string; reason: string }>`
      SELECT actor, reason FROM publications WHERE model = 'prices' ORDER BY id DESC LIMIT 1`.execute(db());
    expect(rows[0]).toEqual({ actor: 'api:ops', reason: 'v3 is off' });
    expect((await api.post('/v1/models/prices/versions/2/publish', {}, as(admin))).status).toBe(409);
    expect((await api.post('/v1/models/prices/versions/3/reject', {}, as(admin))).status).toBe(409);
    expect((await api.post('/v1/models/prices/versions/9/publish', {}, as(admin))).status).toBe(404);
    expect((await api.post('/v1/models/prices/versions/3/publish', { reason: 1 }, as(admin))).status).toBe(
      400,
    );
    expect((await api.post('/v1/models/prices/versions/3/publish', {}, as(reader))).status).toBe(403);
    await sql`UPDATE versions SET state = 'pruned' WHERE model = 'prices' AND number = 1`.execute(db());
    expect((await api.post('/v1/models/prices/versions/1/publish', {}, as(admin))).status).toBe(410);
  });
});

describe('POST /v1/models/:model/versions (import)', () => {
  beforeAll(async () => {
    await api.json('/v1/models/ext', {
      method: 'PUT',
      headers: as(admin, { 'content-type': 'application/json' }),
      body: '{"estimator":"external"}',
    });
  });
  const csv = (body: string, key = admin, type = 'text/csv') =>
    api.json('/v1/models/ext/versions', { method: 'POST', headers: as(key, { 'content-type': type }), body });

  it('imports a CSV body as a published version (201)', async () => {
    const res = await csv('key,value\nA,1\nB,2\n');
    expect(res).toMatchObject({ status: 201, body: { version: 1, state: 'published', rowCount: 2 } });
    expect((await api.json('/v1/models/ext/estimates/B', { headers: as(reader) })).body).toMatchObject({
      value: 2,
      version: 1,
    });
  });

  it('rejects a bad file with every problem and its line (400)', async () => {
    const res = await csv('key,value\nA,x\nA,2\n');
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'line 2.value', line: 2, field: 'value', message: 'not a number: x' },
      { path: 'line 3.key', line: 3, field: 'key', message: 'duplicate key A (first on line 2)' },
    ]);
  });

  it('answers 415 to another content type and 413 past ALMANAC_MAX_IMPORT_BYTES', async () => {
    expect((await csv('key,value\nA,1\n', admin, 'text/plain')).status).toBe(415);
    // JSON is not read by the import, whether or not it parses
    expect((await csv('{"key": ', admin, 'application/json')).status).toBe(415);
    expect((await csv('{"key": "A"}', admin, 'application/json')).status).toBe(415);
    const big = `key,value\n${Array.from({ length: 20_000 }, (_, i) => `key-${i},${i}`).join('\n')}\n`;
    expect((await csv(big)).status).toBe(413);
    expect((await csv('key,value\nA,1\n', reader)).status).toBe(403);
  });

  it('refuses what it would misread: another charset, a compressed body, a query it does not take (no version made)', async () => {
    const versions = async () =>
      (await api.json('/v1/models/ext/versions', { headers: as(reader) })).body.items.length as number;
    const before = await versions();
    const refused = [
      await csv('key,value\nA,1\n', admin, 'text/csv; charset=utf-16'),
      await api.json('/v1/models/ext/versions', {
        method: 'POST',
        headers: as(admin, { 'content-type': 'text/csv', 'content-encoding': 'gzip' }),
        body: 'key,value\nA,1\n',
      }),
      await api.json('/v1/models/ext/versions?x=1', {
        method: 'POST',
        headers: as(admin, { 'content-type': 'text/csv' }),
        body: 'key,value\nA,1\n',
      }),
    ];
    expect(refused.map((res) => res.status)).toEqual([415, 415, 400]);
    expect(refused[0]?.body.detail).toMatch(/utf-16/);
    expect(refused[1]?.body.detail).toMatch(/gzip/);
    expect(refused[2]?.body.errors).toEqual([{ path: 'query.x', message: 'unknown field' }]);
    expect(await versions()).toBe(before);
    expect((await csv('key,value\nA,1\n', admin, 'text/csv; charset=UTF-8')).status).toBe(201);
  });
});

describe('rate limiting', () => {
  it('answers 429 with Retry-After past the limit, per key', async () => {
    const limited = await startTestApi(database.url, prefix, { auth: true, rateLimitPerMinute: 3 });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i += 1)
        statuses.push((await limited.json('/v1/models', { headers: as(reader) })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const last = await limited.json('/v1/models', { headers: as(reader) });
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(last.body).toMatchObject({ status: 429 });
      expect((await limited.json('/v1/models', { headers: as(admin) })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('counts lookups too, on the same budget per key', async () => {
    const { rows } = await sql<{
      key: string;
    }>`SELECT min(key) AS key FROM latest_estimates WHERE model = 'prices'`.execute(db());
    const limited = await startTestApi(database.url, prefix, { auth: true, rateLimitPerMinute: 4 });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i += 1) {
        statuses.push(
          (await limited.json(`/v1/models/prices/estimates/${rows[0]?.key}`, { headers: as(reader) })).status,
        );
      }
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      const last = await limited.json(`/v1/models/prices/estimates/${rows[0]?.key}`, { headers: as(reader) });
      expect(last).toMatchObject({ status: 429, body: { status: 429 } });
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe('when Redis is down', () => {
  it('a run request fails fast with 503, and readiness names Redis', async () => {
    const down = await startTestApi(database.url, prefix, { redisUrl: 'redis://127.0.0.1:1' });
    try {
      const started = Date.now();
      const res = await down.post('/v1/models/prices/runs', {});
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(res.headers.get('retry-after')).toBe('5');
      const ready = await down.json('/readyz');
      expect(ready).toMatchObject({
        status: 503,
        body: { status: 'not ready: redis down', checks: { postgres: 'ok' } },
      });
      const { rows } = await sql<{
        n: string;
      }>`SELECT count(*) AS n FROM runs WHERE state = 'queued'`.execute(db());
      expect(rows[0]?.n).toBe('0');
      // the metrics still answer, the queue's depth unknown until Redis is back
      const scraped = Date.now();
      const metrics = await down.request('/metrics');
      expect(metrics.status).toBe(200);
      expect(Date.now() - scraped).toBeLessThan(3_000);
      // prom-client writes NaN as Nan
      expect(await metrics.text()).toMatch(/^almanac_queue_depth NaN$/im);
    } finally {
      await down.close();
    }
  });
});

describe('never a 500', () => {
  it('answers unknown paths with a problem 404', async () => {
    const res = await api.json('/v2/anything');
    expect(res).toMatchObject({ status: 404, body: { status: 404, title: 'Not Found' } });
  });

  it('answers a method a path does not take with 405 and the methods it does take', async () => {
    const deleted = await api.json('/v1/models/prices', { method: 'DELETE', headers: as(admin) });
    expect(deleted).toMatchObject({ status: 405, body: { status: 405, title: 'Method Not Allowed' } });
    expect(deleted.headers.get('allow')).toBe('GET, HEAD, PUT');
    const runs = await api.json('/v1/models/prices/runs', { method: 'PUT', headers: as(admin) });
    expect(runs.headers.get('allow')).toBe('GET, HEAD, POST');
    // Express matches paths without regard to case
    expect((await api.json('/V1/Models/prices', { method: 'DELETE', headers: as(admin) })).status).toBe(405);
    expect(
      (await api.json('/v1/models/prices/nothing', { method: 'DELETE', headers: as(admin) })).status,
    ).toBe(404);
  });
});
