import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishVersion } from '../src/versions/publish.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, silentLogger } from './helpers/pipeline.ts';

// one Redis prefix for the file, also the CLI's (ALMANAC_REDIS_PREFIX)
const setup = useTestSetup('api_lookups', { market: { keys: 200, days: 30, seed: 4 }, pipeline: true });
const { database, db, pool, pipeline, advance } = setup;
const prefix = setup.prefix.current;
const refresh = (model: string) => pipeline().refresh(model);
const operator = () => ({ db: db(), pool: pool(), logger: silentLogger });
let api: TestApi;
let someKey = '';

beforeAll(async () => {
  await applySpec(db(), demoSpec({ name: 'px', retention: { keepVersions: 2 } }));
  await refresh('px'); // v1
  await advance(1);
  await refresh('px'); // v2
  await refresh('px'); // v3 published; v1 pruned (keep 2)
  await applySpec(
    db(),
    demoSpec({ name: 'px', retention: { keepVersions: 2 }, drift: { minRows: 1_000_000 } }),
  );
  await refresh('px'); // v4 held
  const { rows } = await sql<{
    key: string;
  }>`SELECT min(key) AS key FROM latest_estimates WHERE model = 'px'`.execute(db());
  someKey = rows[0]?.key ?? '';
  api = await startTestApi(database.url, prefix);
}, 120_000);
afterAll(async () => {
  await api?.close();
});

describe('GET /v1/models/:model/estimates/:key', () => {
  it('answers from the published version, naming it in the body and the header', async () => {
    const res = await api.json(`/v1/models/px/estimates/${someKey}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      model: 'px',
      version: 3,
      key: someKey,
      value: expect.any(Number),
      lower: expect.any(Number),
      upper: expect.any(Number),
      asOf: '2026-01-31T00:00:00.000Z',
      stale: false,
    });
    expect(res.headers.get('estimate-version')).toBe('3');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const etag = res.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[^"]+"$/);
    const again = await api.request(`/v1/models/px/estimates/${someKey}`, {
      headers: { 'If-None-Match': etag },
    });
    expect(again.status).toBe(304);
  });

  it('pins a version: immutable caching, strong ETag, 304 on revalidation', async () => {
    const res = await api.json(`/v1/models/px/estimates/${someKey}?version=2`);
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(2);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const etag = res.headers.get('etag') ?? '';
    expect(etag.startsWith('W/')).toBe(false);
    expect(
      (
        await api.request(`/v1/models/px/estimates/${someKey}?version=2`, {
          headers: { 'If-None-Match': etag },
        })
      ).status,
    ).toBe(304);
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=latest`)).body.version).toBe(3);
  });

  it('compares If-None-Match weakly, and answers * with 304 only for a key that exists', async () => {
    const url = `/v1/models/px/estimates/${someKey}?version=2`;
    const etag = (await api.request(url)).headers.get('etag') ?? '';
    const status = async (path: string, ifNoneMatch: string) =>
      (await api.request(path, { headers: { 'If-None-Match': ifNoneMatch } })).status;
    expect(await status(url, `W/${etag}`)).toBe(304);
    expect(await status(url, `"other", ${etag}`)).toBe(304);
    expect(await status(url, '"other"')).toBe(200);
    expect(await status(url, '*')).toBe(304);
    expect(await status('/v1/models/px/estimates/no-such-key?version=2', '*')).toBe(404);
  });

  it('serves a held version when pinned, 410 for a pruned one, 404 for unknown ones', async () => {
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=4`)).status).toBe(200);
    const pruned = await api.json(`/v1/models/px/estimates/${someKey}?version=1`);
    expect(pruned.status).toBe(410);
    expect(pruned.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(pruned.body).toMatchObject({ status: 410, detail: expect.stringContaining('pruned') });
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=99`)).status).toBe(404);
    expect((await api.json(`/v1/models/nope/estimates/${someKey}`)).status).toBe(404);
    const missing = await api.json('/v1/models/px/estimates/NOT-A-TICKER');
    expect(missing).toMatchObject({
      status: 404,
      body: { detail: 'version 3 of "px" has no estimate for key "NOT-A-TICKER"' },
    });
  });

  it('never serves a running or failed version', async () => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO versions (model, number, state) VALUES ('px', 50, 'running'), ('px', 51, 'failed') RETURNING id`.execute(
      db(),
    );
    expect(rows).toHaveLength(2);
    await api.catalog.reload('px');
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=50`)).status).toBe(404);
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=51`)).status).toBe(404);
    // refused for its state, not merely for having no rows
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=50`)).body.detail).toContain(
      'is running; it is not served',
    );
    expect((await api.json(`/v1/models/px/estimates/${someKey}?version=51`)).body.detail).toContain(
      'is failed; it is not served',
    );
  });

  it.each([
    ['a key of 257 characters', `/v1/models/px/estimates/${'k'.repeat(257)}`, 'params.key'],
    ['a control character in a key', '/v1/models/px/estimates/a%01b', 'params.key'],
    ['version=abc', `/v1/models/px/estimates/AAA?version=abc`, 'query.version'],
    ['version=-1', `/v1/models/px/estimates/AAA?version=-1`, 'query.version'],
    ['version=1e99', `/v1/models/px/estimates/AAA?version=1e99`, 'query.version'],
    ['version=1.5', `/v1/models/px/estimates/AAA?version=1.5`, 'query.version'],
    ['an unknown query field', `/v1/models/px/estimates/AAA?versoin=1`, 'query.versoin'],
    ['a model name with capitals', `/v1/models/PX/estimates/AAA`, 'params.model'],
  ])('answers 400 naming the field for %s', async (_what, path, field) => {
    const res = await api.json(path);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toContain(field);
    // each problem said once, however many of the field's checks it fails
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('answers with the same security headers whichever path serves it', async () => {
    const fast = await api.request(`/v1/models/px/estimates/${someKey}`);
    const slow = await api.request('/v1/models/px/estimates/%01');
    const headerNames = [
      'cross-origin-resource-policy',
      'referrer-policy',
      'strict-transport-security',
      'x-content-type-options',
      'x-frame-options',
    ];
    const security = (res: Response) =>
      Object.fromEntries(headerNames.map((name) => [name, res.headers.get(name)]));
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(400);
    expect(security(fast)).toEqual(security(slow));
    expect(Object.values(security(fast)).every((value) => value !== null)).toBe(true);
  });

  it('gives every answer a request id, echoing a well-formed one, on either path', async () => {
    const fast = await api.request(`/v1/models/px/estimates/${someKey}`);
    const slow = await api.request('/v1/models/px/estimates/%01');
    for (const res of [fast, slow]) expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await api.request(`/v1/models/px/estimates/${someKey}`, {
      headers: { 'x-request-id': 'client-42.a' },
    });
    expect(echoed.headers.get('x-request-id')).toBe('client-42.a');
    const refused = await api.request(`/v1/models/px/estimates/${someKey}`, {
      headers: { 'x-request-id': 'no spaces <here>' },
    });
    expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed percent-encoding in any part of a path with 400, never 500', async () => {
    for (const path of [
      '/v1/models/px/estimates/%E0%A4%A',
      '/v1/runs/%C0%AF',
      '/v1/models/px/versions/%/drift',
      '/v1/models/%ZZ',
    ]) {
      const res = await api.json(path);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toMatch(/percent-encoding/);
    }
  });

  it('takes unicode and SQL in keys as plain keys', async () => {
    const unicode = await api.json(`/v1/models/px/estimates/${encodeURIComponent('Zürich 日本')}`);
    expect(unicode).toMatchObject({ status: 404, body: { detail: expect.stringContaining('Zürich 日本') } });
    const injection = await api.json(`/v1/models/px/estimates/${encodeURIComponent("x' OR '1'='1")}`);
    expect(injection.status).toBe(404);
  });
});

describe('POST /v1/models/:model/estimates/batch', () => {
  it('answers in request order from one version, listing the missing keys', async () => {
    const { rows } = await sql<{ key: string }>`
      SELECT key FROM latest_estimates WHERE model = 'px' ORDER BY key DESC LIMIT 3`.execute(db());
    const keys = [rows[0]?.key ?? '', 'NOPE', rows[1]?.key ?? '', rows[2]?.key ?? ''];
    const res = await api.post('/v1/models/px/estimates/batch', { keys });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(3);
    expect((res.body.estimates as { key: string }[]).map((e) => e.key)).toEqual([keys[0], keys[2], keys[3]]);
    expect(res.body.missing).toEqual(['NOPE']);
    const pinned = await api.post('/v1/models/px/estimates/batch', { keys, version: 2 });
    expect(pinned.body.version).toBe(2);
    expect(new Set((pinned.body.estimates as { version: number }[]).map((e) => e.version))).toEqual(
      new Set([2]),
    );
  });

  it('takes 10,000 keys and refuses 10,001', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `K${i}`);
    const ok = await api.post('/v1/models/px/estimates/batch', { keys: many });
    expect(ok.status).toBe(200);
    expect((ok.body.missing as string[]).length).toBe(10_000);
    const tooMany = await api.post('/v1/models/px/estimates/batch', { keys: [...many, 'one more'] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([{ path: 'body.keys', message: 'must hold 1 to 10000 keys' }]);
  });

  it.each([
    ['no keys', { keys: [] }, 'body.keys'],
    ['a key of 0 characters', { keys: [''] }, 'body.keys.0'],
    ['a key of 257 characters', { keys: ['a', 'k'.repeat(257)] }, 'body.keys.1'],
    ['a key of 10,000 characters', { keys: ['k'.repeat(10_000)] }, 'body.keys.0'],
    ['a control character', { keys: ['a\u0000'] }, 'body.keys.0'],
    ['a lone surrogate', { keys: ['a', '\ud800'] }, 'body.keys.1'],
    ['keys that are not strings', { keys: [1] }, 'body.keys.0'],
    ['version as text', { keys: ['a'], version: 'abc' }, 'body.version'],
    ['version -1', { keys: ['a'], version: -1 }, 'body.version'],
    ['version 1e99', { keys: ['a'], version: 1e99 }, 'body.version'],
    ['version 2^63', { keys: ['a'], version: 2 ** 63 }, 'body.version'],
    ['version 1e308', { keys: ['a'], version: 1e308 }, 'body.version'],
    ['an unknown field', { keys: ['a'], extra: true }, 'body.extra'],
    ['no object at all', [1, 2], 'body'],
  ])('answers 400 naming the field for %s', async (_what, body, field) => {
    const res = await api.post('/v1/models/px/estimates/batch', body);
    expect(res.status).toBe(400);
    expect((res.body.errors as { path: string }[]).map((e) => e.path)).toContain(field);
  });

  it("says zod's checks in the API's words", async () => {
    const repeated = await api.json('/v1/models/px/versions?limit=1&limit=2');
    expect(repeated.body.errors).toEqual([{ path: 'query.limit', message: 'must be one value, not a list' }]);
    const numbers = await api.post('/v1/models/px/estimates/batch', { keys: [1] });
    expect(numbers.body.errors).toEqual([{ path: 'body.keys.0', message: 'must be text' }]);
    const list = await api.post('/v1/models/px/estimates/batch', []);
    expect(list.body.errors).toEqual([{ path: 'body', message: 'must be an object' }]);
    const missing = await api.post('/v1/models/px/estimates/batch', {});
    expect(missing.body.errors).toEqual([{ path: 'body.keys', message: 'must be an array of keys' }]);
  });

  it('answers 400 to malformed JSON, 415 to another content type, 413 past 4 MB', async () => {
    for (const [body, message] of [
      ['{"keys": [', 'malformed JSON'],
      ['null', 'must be a JSON object'],
    ]) {
      const refused = await api.json('/v1/models/px/estimates/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(refused).toMatchObject({ status: 400, body: { errors: [{ path: 'body', message }] } });
    }
    const text = await api.json('/v1/models/px/estimates/batch', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'keys=a',
    });
    expect(text.status).toBe(415);
    const utf16 = await api.json('/v1/models/px/estimates/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-16' },
      body: '{"keys": ["a"]}',
    });
    expect(utf16).toMatchObject({ status: 415, body: { detail: expect.stringMatching(/utf-16/) } });
    const utf8 = await api.json('/v1/models/px/estimates/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      body: '{"keys": ["a"]}',
    });
    expect(utf8.status).toBe(200);
    const huge = await api.post('/v1/models/px/estimates/batch', { keys: ['x'.repeat(5 * 1024 * 1024)] });
    expect(huge.status).toBe(413);
  });
});

describe('a publish during a stream of lookups', () => {
  it('gives zero errors, and every answer names a version that was published at that moment', async () => {
    const published = new Set([3]);
    let running = true;
    const answers: number[] = [];
    const failures: string[] = [];
    const readers = Array.from({ length: 4 }, async () => {
      while (running) {
        const res = await api.json(`/v1/models/px/estimates/${someKey}`);
        if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
        else answers.push(res.body.version as number);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    published.add(2);
    await publishVersion(operator(), 'px', 2, { actor: 'test', reason: 'roll back under load' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    await Promise.all(readers);
    expect(failures).toEqual([]);
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.every((version) => published.has(version))).toBe(true);
    expect(answers.at(-1)).toBe(2);
    await publishVersion(operator(), 'px', 3, { actor: 'test' });
  });
});
