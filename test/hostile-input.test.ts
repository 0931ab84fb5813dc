import { request } from 'node:http';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../src/api/routes.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { signIn, startTestApi, type TestApi } from './helpers/api.ts';
import { dataState } from './helpers/dump.ts';
import { useConnections, useFileRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';

/**
 * Generated hostile requests against every route, with auth on: malformed percent-encoding,
 * unicode, very long and dotted path segments, unknown and repeated query fields, bad and valid
 * keys, wrong content types, bodies of every shape. None may answer 5xx or show a stack trace,
 * and none may change data. Single lookups with a verified key and a held version take the fast
 * path in front of Express, so both serving paths are driven.
 */

const database = useTestDatabase('hostile');
const { db, runtime } = useConnections(database);
const prefix = useFileRedisPrefix().current;
let api: TestApi;
let reader = '';
let admin = '';
/** dashboard session cookies of both keys */
const sessions = { reader: '', admin: '' };

beforeAll(async () => {
  await applySpec(db(), { name: 'ext', estimator: 'external' });
  await importCsv(
    runtime(),
    'ext',
    readableOf('key,value,lower,upper,as_of\nA,1,0,2,2026-05-01\nB,2,,,\n'),
    'test',
  );
  reader = await createApiKey(db(), 'reader', 'read');
  admin = await createApiKey(db(), 'admin', 'admin');
  api = await startTestApi(database.url, prefix, { auth: true });
  // verify both keys once, so that later lookups may take the fast path
  for (const key of [reader, admin]) {
    await api.request('/v1/models/ext/estimates/A', { headers: { authorization: `Bearer ${key}` } });
  }
  for (const [name, key] of [
    ['reader', reader],
    ['admin', admin],
  ] as const) {
    sessions[name] = (await signIn(api, key)).cookie;
    expect(sessions[name]).toMatch(/^almanac_session=/);
  }
}, 60_000);
afterAll(async () => {
  await api?.close();
});

const state = () => dataState(db(), prefix);

type Answer = { status: number; body: string; contentType: string };

/** A raw HTTP request: the path goes out as written, malformed encoding and all. */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(api.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: String(res.headers['content-type'] ?? ''),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A path segment: an encoded string, malformed percent-encoding, dots, or something very long. */
const encoded = (text: string) => {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80'; // a lone surrogate, as UTF-8 would write it
  }
};
const malformed = fc.constantFrom(
  '%',
  '%E0%A4%A',
  '%C0%AF',
  '%ZZ',
  '%%',
  '%00',
  '%2F',
  '..',
  '.',
  '%2e%2e',
  '%FF%FE',
  '%u0041',
  '%0A',
);
const segment = fc.oneof(
  malformed,
  fc.string({ unit: 'binary', maxLength: 40 }).map(encoded),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map(encoded),
  fc.string({ minLength: 300, maxLength: 1200 }).map(encoded),
  fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/),
  fc.integer().map(String),
);
const readSegments: Record<string, string[]> = {
  model: ['ext'],
  version: ['1', 'latest', '0', '2147483648'],
  key: ['A', 'B'],
  runId: ['00000000-0000-4000-8000-000000000000'],
};
const fieldValue = fc.oneof(
  malformed,
  fc.string({ maxLength: 30 }).map(encoded),
  fc.constantFrom('1', 'latest', '-1', '1e99', 'csv', 'parquet', 'json', 'held', '1000', '1001', ''),
);
const authorization = fc.constantFrom(
  undefined,
  'reader',
  'admin',
  'Bearer alm_not-a-key',
  'Basic YTpi',
  'Bearer',
  'bearer    ',
);
const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=latin1',
  'text/csv',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '*/*',
);
const body = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '',
    '{',
    '{"keys": []}',
    '{"keys": ["A"], "version": "1"}',
    '{"reason": 5}',
    'key,value\nA,x\n',
    '\u0000',
  ),
  fc
    .jsonValue({ maxDepth: 2 })
    .map((value) => JSON.stringify({ keys: value, version: value, reason: value })),
);

function requestFor(route: (typeof routes)[number]) {
  const mutating = route.method !== 'get';
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
  // a request that changes something gets nothing that names what exists: that would not be hostile
  const params = fc.tuple(
    ...names.map((name) =>
      mutating
        ? segment.filter((value) => value !== 'ext')
        : fc.oneof(fc.constantFrom(...(readSegments[name] ?? ['x'])), segment),
    ),
  );
  const fields = [
    'version',
    'format',
    'from',
    'to',
    'limit',
    'cursor',
    'state',
    'key',
    'token',
    'x',
    'version',
  ];
  const query = fc.array(
    fc.tuple(fc.oneof(fc.constantFrom(...fields), fc.string({ maxLength: 8 }).map(encoded)), fieldValue),
    {
      maxLength: 4,
    },
  );
  return fc.record({
    params,
    query,
    authorization,
    contentType,
    body: mutating ? fc.option(body, { nil: undefined }) : fc.constant(undefined),
    ifNoneMatch: fc.option(
      fc.string({ maxLength: 30 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
      { nil: undefined },
    ),
    requestId: fc.option(
      fc.string({ maxLength: 140 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
      { nil: undefined },
    ),
  });
}

describe('hostile input', () => {
  it('never answers 5xx nor shows a stack trace, and changes no data, on any route', async () => {
    const before = await state();
    const seen = new Map<number, number>();
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(requestFor(route), async (generated) => {
          let index = 0;
          const path = route.path.replaceAll(/\{\w+\}/g, () => generated.params[index++] ?? '');
          const search = generated.query.map(([k, v]) => `${k}=${v}`).join('&');
          const headers: Record<string, string> = {};
          if (generated.authorization === 'reader') headers.authorization = `Bearer ${reader}`;
          else if (generated.authorization === 'admin') headers.authorization = `Bearer ${admin}`;
          else if (generated.authorization !== undefined) headers.authorization = generated.authorization;
          if (generated.contentType !== undefined) headers['content-type'] = generated.contentType;
          if (generated.ifNoneMatch !== undefined) headers['if-none-match'] = generated.ifNoneMatch;
          if (generated.requestId !== undefined) headers['x-request-id'] = generated.requestId;
          const answer = await send(
            route.method.toUpperCase(),
            search === '' ? path : `${path}?${search}`,
            headers,
            generated.body,
          );
          seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
          expect(answer.status, `${route.method} ${path}?${search}`).toBeLessThan(500);
          expect(answer.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
          if (answer.status >= 400) expect(answer.contentType).toMatch(/^application\/problem\+json/);
        }),
        { numRuns: 80, seed: 20261202 },
      );
    }
    expect(await state()).toBe(before);
    // the generated requests reached past validation too: answers, refusals and misses
    expect([...seen.keys()]).toEqual(expect.arrayContaining([200, 400, 401, 404]));
  }, 120_000);

  it('never answers 5xx nor shows a stack trace, and changes no data, on any dashboard page or form', async () => {
    const before = await state();
    // the dashboard's routes (src/ui/dashboard.ts), with what they take
    const pages = [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/models/{model}' },
      { method: 'GET', path: '/models/{model}/versions/{version}' },
      { method: 'GET', path: '/models/{model}/diff' },
      { method: 'GET', path: '/models/{model}/runs' },
      { method: 'POST', path: '/models/{model}/versions/{version}/publish' },
      { method: 'POST', path: '/models/{model}/versions/{version}/reject' },
      { method: 'GET', path: '/login' },
      { method: 'POST', path: '/login' },
      { method: 'POST', path: '/logout' },
      { method: 'GET', path: '/data/v1/models/{model}/versions/{version}' },
      { method: 'POST', path: '/data/v1/models/{model}/versions/{version}/publish' },
      { method: 'GET', path: '/assets/dashboard.css' },
    ];
    const cookie = fc.constantFrom(
      undefined,
      'reader',
      'admin',
      'almanac_session=garbage',
      'almanac_session=a.b',
      'almanac_session=%E0%A4%A',
      'almanac_login=x; almanac_session=a.b.c',
    );
    const form = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .array(fc.tuple(fc.constantFrom('_csrf', 'reason', 'key', 'next', 'x'), fieldValue), { maxLength: 4 })
        .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')),
    );
    for (const route of pages) {
      const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
      const mutating = route.method === 'POST';
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            params: fc.tuple(
              ...names.map((name) => fc.oneof(fc.constantFrom(...(readSegments[name] ?? ['x'])), segment)),
            ),
            query: fc.array(
              fc.tuple(fc.constantFrom('from', 'to', 'next', 'done', 'version', 'x'), fieldValue),
              {
                maxLength: 3,
              },
            ),
            cookie,
            origin: fc.constantFrom(undefined, 'null', 'http://evil.example', '%%'),
            body: mutating ? fc.option(form, { nil: undefined }) : fc.constant(undefined),
          }),
          async (generated) => {
            let index = 0;
            const path = route.path.replaceAll(/\{\w+\}/g, () => generated.params[index++] ?? '');
            const search = generated.query.map(([k, v]) => `${k}=${v}`).join('&');
            const headers: Record<string, string> = {};
            if (generated.cookie === 'reader' || generated.cookie === 'admin')
              headers.cookie = sessions[generated.cookie];
            else if (generated.cookie !== undefined) headers.cookie = generated.cookie;
            if (generated.origin !== undefined) headers.origin = generated.origin;
            if (generated.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
            const answer = await send(
              route.method,
              search === '' ? path : `${path}?${search}`,
              headers,
              generated.body,
            );
            expect(answer.status, `${route.method} ${path}?${search}`).toBeLessThan(500);
            expect(answer.body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
          },
        ),
        { numRuns: 60, seed: 20261202 },
      );
    }
    expect(await state()).toBe(before);
  }, 120_000);

  it('ignores change notifications Almanac did not send, and follows the real ones after them', async () => {
    // any role may NOTIFY on any channel: the read-only one, here
    const forged = ['x', 'null', '[]', '{"table":"versions"}', '{"table":"nope","model":"ext"}', ''];
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL ROLE almanac_reader`.execute(trx);
        for (const payload of forged) await sql`SELECT pg_notify('almanac_changes', ${payload})`.execute(trx);
      });
    const headers = { authorization: `Bearer ${reader}` };
    expect((await api.request('/v1/models/ext/estimates/A', { headers })).status).toBe(200);
    // a new version (held or published, as the drift gate decides) is known once its change is heard
    const outcome = await importCsv(runtime(), 'ext', readableOf('key,value\nA,5\nB,6\n'), 'test');
    const pinned = async () => {
      const res = await api.request(`/v1/models/ext/estimates/A?version=${outcome.version.number}`, {
        headers,
      });
      return { status: res.status, body: (await res.json()) as { version?: number; value?: number } };
    };
    const deadline = Date.now() + 5_000;
    let now = await pinned();
    while (now.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await pinned();
    }
    expect(now).toMatchObject({ status: 200, body: { version: outcome.version.number, value: 5 } });
  });
});
