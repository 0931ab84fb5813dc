import { get } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertApiKey } from '../src/db/api-keys.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey, hashApiKey } from '../src/keys/api-keys.ts';
import { rawHttp, startTestApi, type TestApi } from './helpers/api.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';
import { REDIS_URL } from './helpers/services.ts';
import { waitFor } from './helpers/worker-process.ts';

/**
 * What the API does to clients that stall, send oversized or doubled headers, burst past the
 * rate limit (on one replica and on two sharing Redis) or guess keys: each over real HTTP and
 * raw sockets, against the real API.
 */

const { database, db, runtime, prefix } = useTestSetup('api-limits');
const ROWS = 250_000;
/** short, yet long enough for a loaded machine's reader to keep up */
const IDLE_TIMEOUT_MS = 2_000;
let reader = '';
let admin = '';
/** idle timeout IDLE_TIMEOUT_MS, auth on */
let api: TestApi;

beforeAll(async () => {
  await applySpec(db(), { name: 'ext', estimator: 'external' });
  await applySpec(db(), { name: 'big', estimator: 'external' });
  await importCsv(runtime(), 'ext', readableOf('key,value\nA,1\nB,2\n'), 'test');
  const lines = ['key,value'];
  for (let i = 0; i < ROWS; i += 1) lines.push(`key-${String(i).padStart(7, '0')},${i / 7}`);
  await importCsv(runtime(), 'big', readableOf(`${lines.join('\n')}\n`), 'test');
  reader = await createApiKey(db(), 'reader', 'read');
  admin = await createApiKey(db(), 'admin', 'admin');
  api = await startTestApi(database.url, prefix.current, { auth: true, idleTimeoutMs: IDLE_TIMEOUT_MS });
}, 120_000);
afterAll(async () => {
  await api?.close();
});

describe('slow clients', () => {
  it('answers 408 to a body that stops arriving (a 2 GB body declared, 19 bytes sent) and closes', async () => {
    const answer = await rawHttp(api.url, [
      {
        after: 0,
        data: `POST /v1/models/ext/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: text/csv\r\nContent-Length: 1000000000\r\n\r\nkey,value\nC,1\nD,2\n`,
      },
    ]);
    expect(answer.status).toBe(408);
    expect(answer.head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 408, detail: expect.stringMatching(/stalled/) });
    // nothing of it was kept
    expect(
      (await api.json('/v1/models/ext', { headers: { authorization: `Bearer ${reader}` } })).body,
    ).toMatchObject({ published: { version: 1 } });
  });

  it('refuses a JSON body declared over 4 MB at once (413), and any body of a caller without a key (401), unread', async () => {
    const head = (auth: string) =>
      `POST /v1/models/ext/estimates/batch HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n{"keys":`;
    const tooLarge = await rawHttp(api.url, [
      { after: 0, data: head(`Authorization: Bearer ${reader}\r\n`) },
    ]);
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toMatchObject({
      status: 413,
      detail: expect.stringMatching(/4194304/),
    });
    const anonymous = await rawHttp(api.url, [{ after: 0, data: head('') }]);
    expect(anonymous.status).toBe(401);
    // a dashboard form declared over its 16 KiB
    const form = await rawHttp(api.url, [
      {
        after: 0,
        data: 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\nkey=',
      },
    ]);
    expect(form.status).toBe(413);
  });

  it('closes a connection whose request head trickles in, with 408', async () => {
    const answer = await rawHttp(api.url, [
      { after: 0, data: 'GET /healthz HTTP/1.1\r\nHost: x\r\n' },
      // a header every 200 ms: never idle for 2 s, but the head as a whole takes 6 s
      ...Array.from({ length: 30 }, (_, i) => ({ after: 200 + i * 200, data: `X-Slow-${i}: y\r\n` })),
    ]);
    expect(answer.status).toBe(408);
    expect(answer.head).toMatch(/content-type: application\/problem\+json/i);
  });

  it('lets a body that keeps coming take longer than the idle timeout (an idle timeout, not a deadline)', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => `S${i},${i}\n`);
    const body = `key,value\n${rows.join('')}`;
    const answer = await rawHttp(api.url, [
      {
        after: 0,
        data: `POST /v1/models/ext/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: text/csv\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\nkey,value\n`,
      },
      // 25 rows, one every 200 ms: 5 s in all, never 2 s without a byte
      ...rows.map((row, i) => ({ after: 200 * (i + 1), data: row })),
    ]);
    expect(answer.status, answer.body).toBe(201);
  });

  it('streams a large snapshot to a slow reader for longer than the idle timeout', async () => {
    const url = `${api.url}/v1/models/big/versions/latest/snapshot?format=csv`;
    const started = Date.now();
    const { lines, complete } = await new Promise<{ lines: number; complete: boolean }>((resolve, reject) => {
      get(url, { headers: { authorization: `Bearer ${reader}` } }, (res) => {
        let count = 0;
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          for (const byte of chunk) if (byte === 10) count += 1;
          bytes += chunk.length;
          // 2 MB/s at the most, so the server waits on this reader the whole time (8 MB: about
          // 4 s). A pace per byte, not a pause per chunk: a loaded machine's reader that falls
          // behind does not pause, where pauses per chunk had slowed one to a stall of 4 s as the
          // kernel's buffers hid its progress.
          const ahead = bytes / 2_000 - (Date.now() - started);
          if (ahead > 0) {
            res.pause();
            setTimeout(() => res.resume(), ahead);
          }
        });
        res.on('end', () => resolve({ lines: count, complete: res.complete }));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(complete).toBe(true);
    expect(lines).toBe(ROWS + 1);
    expect(Date.now() - started).toBeGreaterThan(IDLE_TIMEOUT_MS);
  }, 60_000);

  it('drops a reader that stops reading a snapshot', async () => {
    const url = `${api.url}/v1/models/big/versions/latest/snapshot?format=csv`;
    const aborted = async () =>
      counter(
        await (await api.request('/metrics')).text(),
        'almanac_http_requests_aborted_total',
        'method="GET",route="/v1/models/:model/versions/:version/snapshot"',
      );
    const before = await aborted();
    const request = get(url, { headers: { authorization: `Bearer ${reader}` } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // reads a little, then nothing more
        if (bytes > 100_000) res.pause();
      });
    });
    request.on('error', () => {});
    try {
      await waitFor(
        async () => ((await aborted()) > before ? true : undefined),
        10_000,
        'the server to drop it',
      );
    } finally {
      request.destroy();
    }
  });
});

describe('headers', () => {
  it('refuses request heads over 16 KiB with a 431 problem', async () => {
    const res = await api.request('/healthz', { headers: { 'x-large': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 431, title: 'Request Header Fields Too Large' });
  });

  it.each([
    ['Authorization', `Authorization: Bearer a\r\nAuthorization: Bearer b`],
    ['Content-Type', 'Content-Type: application/json\r\nContent-Type: text/csv'],
    ['Host', 'Host: y'],
  ])('refuses a request that sends %s twice, naming it', async (name, headers) => {
    const answer = await rawHttp(api.url, [
      { after: 0, data: `GET /v1/models HTTP/1.1\r\nHost: x\r\n${headers}\r\nConnection: close\r\n\r\n` },
    ]);
    expect(answer.status).toBe(400);
    expect(answer.head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(answer.body)).toMatchObject({
      status: 400,
      errors: [{ path: `headers.${name.toLowerCase()}`, message: 'must be sent once' }],
    });
  });
});

/** The value of a counter with these labels in a Prometheus text exposition (0 when absent). */
function counter(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

describe('rate limit', () => {
  it('holds per key across a burst, counted once for the lookup fast path and the app', async () => {
    const limited = await startTestApi(database.url, prefix.current, { auth: true, rateLimitPerMinute: 20 });
    try {
      // verified once, so that lookups take the fast path
      expect((await limited.json('/v1/models/ext/estimates/A', as(reader))).status).toBe(200);
      const burst = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          limited.json(i % 2 === 0 ? '/v1/models/ext/estimates/A' : '/v1/models', as(reader)),
        ),
      );
      const statuses = burst.map((answer) => answer.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(19);
      expect(statuses.filter((s) => s === 429)).toHaveLength(21);
      for (const answer of burst.filter((a) => a.status === 429)) {
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
      // both paths refused some: lookups (fast path) and listings (the app)
      expect(burst.filter((a, i) => i % 2 === 0 && a.status === 429).length).toBeGreaterThan(0);
      expect(burst.filter((a, i) => i % 2 === 1 && a.status === 429).length).toBeGreaterThan(0);
      // another key has its own budget
      expect((await limited.json('/v1/models', as(admin))).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('is shared by two API replicas through Redis with ALMANAC_RATE_LIMIT_REDIS=on, under the prefix', async () => {
    const options = { auth: true, rateLimitPerMinute: 10, rateLimitRedis: true };
    const one = await startTestApi(database.url, prefix.current, options);
    const two = await startTestApi(database.url, prefix.current, options);
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      const answers = [];
      for (let i = 0; i < 8; i += 1) {
        answers.push(await one.json('/v1/models/ext/estimates/A', as(reader)));
        answers.push(await two.json('/v1/models', as(reader)));
      }
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.slice(10)).toEqual(Array(6).fill(429));
      await redis.connect();
      expect(await redis.keys(`${prefix.current}:ratelimit:requests:*`)).toEqual([
        `${prefix.current}:ratelimit:requests:api:reader`,
      ]);
    } finally {
      redis.disconnect();
      await one.close();
      await two.close();
    }
  });
});

describe('rate limit in Redis while Redis is down', () => {
  it('starts and serves, counting nothing, rather than refusing', async () => {
    const down = await startTestApi(database.url, prefix.current, {
      auth: true,
      rateLimitPerMinute: 2,
      rateLimitRedis: true,
      authFailuresPerMinute: 1,
      redisUrl: 'redis://127.0.0.1:1',
    });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i += 1)
        statuses.push((await down.json('/v1/models/ext/estimates/A', as(reader))).status);
      expect(statuses).toEqual([200, 200, 200, 200]);
      for (let i = 0; i < 3; i += 1) expect((await down.json('/v1/models', as('alm_nope'))).status).toBe(401);
    } finally {
      await down.close();
    }
  });
});

describe('failed authentication', () => {
  it('looks each bogus key up once however often it is tried, and a key created after works at once', async () => {
    const guessed = await startTestApi(database.url, prefix.current, { auth: true });
    try {
      const metrics = async () => (await guessed.request('/metrics')).text();
      const before = await metrics();
      const bogus = ['alm_guess-1', 'alm_guess-2', 'alm_guess-3'];
      // all at once and then again: 60 requests, 3 distinct keys
      for (let round = 0; round < 2; round += 1) {
        const answers = await Promise.all(
          Array.from({ length: 30 }, (_, i) => guessed.json('/v1/models', as(bogus[i % 3] ?? ''))),
        );
        expect(answers.every((answer) => answer.status === 401)).toBe(true);
      }
      const after = await metrics();
      const lookups = (text: string) => counter(text, 'almanac_auth_lookups_total', 'result="unknown"');
      expect(lookups(after) - lookups(before)).toBe(3);
      expect(counter(after, 'almanac_auth_failures_total', 'reason="unknown"')).toBe(60);

      // the key now exists: the change notification clears what was remembered of it
      await insertApiKey(db(), { name: 'late', keyHash: hashApiKey('alm_guess-1'), scopes: ['read'] });
      const status = await waitFor(
        async () => {
          const answer = await guessed.json('/v1/models', as('alm_guess-1'));
          return answer.status === 200 ? answer.status : undefined;
        },
        2_000,
        'the new key to be accepted',
      );
      expect(status).toBe(200);
    } finally {
      await guessed.close();
    }
  });

  it('answers 429 past ALMANAC_AUTH_FAILURE_LIMIT failures a minute from an address, without looking keys up', async () => {
    const guarded = await startTestApi(database.url, prefix.current, {
      auth: true,
      authFailuresPerMinute: 5,
    });
    try {
      // a good key verified before the flood keeps working through it
      expect((await guarded.json('/v1/models', as(reader))).status).toBe(200);
      const statuses = [];
      for (let i = 0; i < 8; i += 1)
        statuses.push((await guarded.json('/v1/models', as(`alm_flood-${i}`))).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      const limited = await guarded.json('/v1/models', as('alm_flood-99'));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toMatchObject({
        status: 429,
        detail: expect.stringMatching(/failed authentications/),
      });
      expect((await guarded.json('/v1/models', as(reader))).status).toBe(200);
      const metrics = await (await guarded.request('/metrics')).text();
      expect(counter(metrics, 'almanac_auth_lookups_total', 'result="unknown"')).toBe(5);
      expect(counter(metrics, 'almanac_auth_failures_total', 'reason="limited"')).toBe(4);
    } finally {
      await guarded.close();
    }
  });
});
