import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../src/api/routes.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { rawHttp, startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { dataState } from './helpers/dump.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';
import { BIN, runBin } from './helpers/spawn.ts';

/**
 * Properties of every input surface beside test/hostile-input.test.ts's parameters and bodies:
 * arbitrary headers on every route (from the one route registry, so a new route is covered),
 * model specs, CSV imports and CLI arguments. Whatever is sent: no 5xx, no stack trace or source
 * path in any answer, errors as problem documents (the CLI: one sentence, exit code 1 or 2), and a
 * refused request changes nothing (each version's checksum, the catalog tables, the Redis keys).
 */

const { database, db, runtime, prefix } = useTestSetup('hostile-properties');
let api: TestApi;
let admin = '';
let reader = '';

beforeAll(async () => {
  await applySpec(db(), { name: 'ext', estimator: 'external' });
  await importCsv(runtime(), 'ext', readableOf('key,value,lower,upper\nA,1,0,2\nB,2,1,3\n'), 'test');
  admin = await createApiKey(db(), 'admin', 'admin');
  reader = await createApiKey(db(), 'reader', 'read');
  api = await startTestApi(database.url, prefix.current, { auth: true, maxImportBytes: 64 * 1024 });
}, 60_000);
afterAll(async () => {
  await api?.close();
});

const state = () => dataState(db(), prefix.current);
const STACK = /\n\s+at |node_modules|\.[jt]s:\d+|\/src\/|\/dist\//;

/** A printable header value (what a raw connection may carry), sometimes long. */
const headerValue = fc.oneof(
  fc.string({ maxLength: 60 }).map((v) => v.replace(/[^\x20-\x7e]/g, '')),
  fc.constantFrom('', ' ', '*/*', 'null', '%', 'Bearer', 'Bearer ', 'bearer x y', '()<>@,;:\\"/[]?={}'),
  fc.string({ minLength: 2000, maxLength: 6000 }).map((v) => v.replace(/[^\x21-\x7e]/g, 'a')),
);
const headerName = fc.oneof(
  fc.constantFrom(
    'Authorization',
    'Content-Type',
    'Host',
    'Origin',
    'Cookie',
    'Accept',
    'Accept-Encoding',
    'If-None-Match',
    'X-Request-Id',
    'X-Forwarded-For',
    'X-Forwarded-Proto',
    'X-Forwarded-Host',
    'Expect',
    'Range',
    'Proxy-Authorization',
  ),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/),
);
const key = fc.constantFrom('admin', 'reader', 'none');

describe('hostile headers, on every route of the registry', () => {
  it('never answers 5xx nor a stack trace, errors are problem documents, refusals change nothing', async () => {
    const seen = new Set<number>();
    for (const route of routes) {
      const path = route.path.replaceAll(/\{(\w+)\}/g, (_, name: string) =>
        name === 'model' ? 'ext' : name === 'version' ? '1' : name === 'key' ? 'A' : 'x',
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
          key,
          fc.option(fc.json({ maxDepth: 2 }), { nil: undefined }),
          async (headers, who, body) => {
            const before = route.method === 'get' ? '' : await state();
            const lines = [`${route.method.toUpperCase()} ${path} HTTP/1.1`, 'Host: localhost'];
            if (who !== 'none') lines.push(`Authorization: Bearer ${who === 'admin' ? admin : reader}`);
            for (const [name, value] of headers) lines.push(`${name}: ${value}`);
            lines.push(`Content-Length: ${Buffer.byteLength(body ?? '')}`, 'Connection: close');
            const answer = await rawHttp(api.url, [
              { after: 0, data: `${lines.join('\r\n')}\r\n\r\n${body ?? ''}` },
            ]);
            seen.add(answer.status);
            const context = `${route.method} ${path} ${JSON.stringify(headers).slice(0, 300)}`;
            expect(answer.status, context).toBeGreaterThanOrEqual(200);
            expect(answer.status, context).toBeLessThan(500);
            expect(answer.body, context).not.toMatch(STACK);
            if (answer.status >= 400) {
              expect(answer.head, context).toMatch(/\r\ncontent-type: application\/problem\+json/i);
              if (route.method !== 'get') expect(await state(), context).toBe(before);
            }
          },
        ),
        { numRuns: 12, seed: 20261202 },
      );
    }
    // refused for their headers (doubled, too large), and answered past them
    expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401]));
  }, 60_000);
});

/** A value a spec field might get: a plausible one, or anything JSON can say. */
function field<T>(...plausible: T[]) {
  return fc.oneof(fc.constantFrom(...plausible), fc.jsonValue({ maxDepth: 2 }));
}

const specBody = fc.record(
  {
    name: field('spec-a', 'spec-b', 'ext', 'Spec', '', 'a'.repeat(70), '../x'),
    description: field('d', ''),
    estimator: field('ridge', 'naive', 'external', 'magic'),
    params: field({ alpha: 1 }, { alpha: -1 }, { feature: 'close' }, { alpha: 'x' }),
    source: field(
      { table: 'demo.daily_prices', key: 'ticker', time: 'day', target: 'close_next', features: ['close'] },
      {
        table: 'pg_catalog.pg_authid',
        key: 'rolname',
        time: 'rolvaliduntil',
        target: 'oid',
        features: ['oid'],
      },
      { table: 'x; DROP TABLE models', key: 'k', time: 't', target: 'y', features: [] },
    ),
    trainWindowDays: field(90, 0, -1, 1e9, 1.5),
    holdoutDays: field(7, 0, 1000),
    schedule: field(
      { cron: '0 2 * * *' },
      { cron: '* * *' },
      { cron: '0 2 * * *', timezone: 'Mars/Olympus' },
    ),
    drift: field({ maxPsi: 0.2 }, { maxPsi: -1 }, { minRows: 1e12 }),
    inputs: field({ maxRowDrop: 2 }, { maxNullShare: 0.5 }),
    alerts: field({ webhookUrl: 'http://169.254.169.254/' }, { webhookUrl: 'file:///etc/passwd' }),
    retention: field({ keepVersions: 0 }, { keepVersions: 3 }),
    maxAgeHours: field(36, -1, 0),
    shards: field<number | string>(1, 'auto', 0),
    unknown: field(1),
  },
  { requiredKeys: [] },
);

describe('hostile model specs', () => {
  it('PUT /v1/models/:model never answers 5xx; a refused spec changes nothing', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('spec-a', 'spec-b', 'ext', 'NOT%20A%20NAME', '%E0%A4%A'),
        specBody,
        async (name, spec) => {
          const before = await state();
          const answer = await rawHttp(api.url, [
            {
              after: 0,
              data: `PUT /v1/models/${name} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON.stringify(spec))}\r\nConnection: close\r\n\r\n${JSON.stringify(spec)}`,
            },
          ]);
          statuses.add(answer.status);
          const context = `${name} ${JSON.stringify(spec).slice(0, 400)}`;
          expect(answer.status, context).toBeLessThan(500);
          expect(answer.body, context).not.toMatch(STACK);
          if (answer.status >= 400) {
            expect(answer.head, context).toMatch(/\r\ncontent-type: application\/problem\+json/i);
            expect(await state(), context).toBe(before);
          }
        },
      ),
      { numRuns: 80, seed: 20261202 },
    );
    expect([...statuses]).toEqual(expect.arrayContaining([400]));
  }, 60_000);
});

const csvCell = fc.oneof(
  fc.constantFrom(
    '1',
    '-0',
    '1e308',
    '1e309',
    'NaN',
    'Infinity',
    '-Infinity',
    '',
    ' ',
    '0x10',
    '1,5',
    '"1"',
    '"',
  ),
  fc.constantFrom(
    '2026-05-01',
    '2026-05-01T16:30:00',
    '2026-02-30',
    'yesterday',
    '2026-05-01T16:30:00.1234567Z',
  ),
  fc.constantFrom('A', 'B', 'C', '\uFEFFA', 'A\u200B', 'a'.repeat(300), '=cmd|/c calc', '\u0000'),
  fc.string({ maxLength: 12 }),
);
const csvBody = fc
  .tuple(
    fc.subarray(['key', 'value', 'lower', 'upper', 'as_of', 'junk', 'key'], { minLength: 0 }),
    fc.array(fc.array(csvCell, { maxLength: 7 }), { maxLength: 6 }),
    fc.constantFrom('\n', '\r\n', '\r'),
  )
  .map(([header, rows, eol]) => [header.join(','), ...rows.map((row) => row.join(','))].join(eol) + eol);

describe('hostile CSV imports', () => {
  it('POST /v1/models/:model/versions never answers 5xx; a refused file changes nothing', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('ext', 'nope'), csvBody, async (model, csv) => {
        const before = await state();
        const res = await api.request(`/v1/models/${model}/versions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
          body: csv,
        });
        const text = await res.text();
        statuses.add(res.status);
        const context = JSON.stringify(csv).slice(0, 400);
        expect(res.status, context).toBeLessThan(500);
        expect(text, context).not.toMatch(STACK);
        if (res.status >= 400) {
          expect(res.headers.get('content-type'), context).toMatch(/^application\/problem\+json/);
          expect(await state(), context).toBe(before);
        }
      }),
      { numRuns: 60, seed: 20261202 },
    );
    expect([...statuses]).toEqual(expect.arrayContaining([400]));
  }, 60_000);
});

/** The CLI's commands, as its help lists them, less those that run until stopped. */
async function cliCommands(): Promise<string[]> {
  const help = await runCli('--help');
  const listed = help.stdout.slice(help.stdout.indexOf('Commands:'));
  const names = [...listed.matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1] ?? '');
  return names.filter((name) => !['serve', 'worker', 'scheduler', 'demo', 'help', 'seed'].includes(name));
}

const cliArg = fc.oneof(
  fc.constantFrom(
    'ext',
    'nope',
    '1',
    'latest',
    '0',
    '-1',
    '2147483648',
    'A',
    'create',
    'list',
    'revoke',
    'apply',
  ),
  fc.constantFrom(
    '--version',
    '--format',
    '--json',
    '--reason',
    '--name',
    '--scope',
    '--at',
    '--limit',
    '--expires',
  ),
  fc.constantFrom(
    '--force-inputs',
    '--state',
    '--note',
    '--verbose',
    '-x',
    '--',
    '--=',
    '-',
    'read',
    'admin',
  ),
  fc.constantFrom(
    '%',
    '\u202Eevil',
    '../../../etc/passwd',
    '/dev/null',
    'a'.repeat(5000),
    '2026-13-45',
    'parquet',
  ),
  fc.string({ maxLength: 20 }),
);

describe('hostile CLI arguments', () => {
  let commands: string[] = [];
  let cwd = '';
  beforeAll(async () => {
    commands = await cliCommands();
    cwd = await mkdtemp(path.join(tmpdir(), 'almanac-hostile-cli-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('the CLI (through main) exits 0 to 3 with one sentence, never a stack trace; a refusal changes nothing', async () => {
    expect(commands).toEqual(expect.arrayContaining(['import', 'export', 'keys', 'models', 'publish']));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...commands),
        fc.array(cliArg, { maxLength: 5 }),
        async (command, args) => {
          // writing files is left to the processes below, which run in a folder of their own
          const argv = [command, ...args].filter((arg) => arg !== '--out');
          const before = await state();
          const run = await runCli(...argv);
          const context = JSON.stringify(argv).slice(0, 300);
          expect([0, 1, 2, 3], context).toContain(run.code);
          expect(run.stderr, context).not.toMatch(argv.includes('--verbose') ? /(?!)/ : STACK);
          if (run.code === 1 || run.code === 2) expect(await state(), context).toBe(before);
        },
      ),
      { numRuns: 60, seed: 20261202 },
    );
  }, 60_000);

  it('the real executable does the same, a few times (each is a process)', async () => {
    const samples = fc.sample(
      fc.tuple(
        fc.constantFrom(...commands),
        fc.array(fc.oneof(cliArg, fc.constant('--out')), { maxLength: 4 }),
      ),
      { numRuns: 5, seed: 20261202 },
    );
    for (const [command, args] of samples) {
      const argv = [command, ...args].filter((arg) => arg !== '--verbose');
      const before = await state();
      const run = await runBin(
        argv,
        { DATABASE_URL: database.url, ALMANAC_REDIS_PREFIX: prefix.current },
        { cwd },
      );
      const context = `${BIN} ${JSON.stringify(argv).slice(0, 300)}`;
      expect([0, 1, 2, 3], context).toContain(run.code);
      expect(run.stderr, context).not.toMatch(STACK);
      if (run.code === 1 || run.code === 2) expect(await state(), context).toBe(before);
    }
  }, 120_000);
});
