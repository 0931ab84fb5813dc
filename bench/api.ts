import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { printTable, withScratchDatabase } from './scratch.ts';
import { BIN, startProcess, stopProcess } from './worker-process.ts';

const KEYS = 1_000_000;
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 32;
const BASELINE = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));
const keyOf = (i: number) => `key-${String(i).padStart(7, '0')}`;
const randomKey = () => keyOf(Math.floor(Math.random() * KEYS));

/**
 * The API under load, 1,000,000 keys published, against a bare node:http + pg server doing the
 * same indexed lookup, in the same run: random keys, one hot key, batches of 1,000, and a CSV
 * snapshot against psql's \copy of the same version.
 */
export async function benchApi(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async (runtime, url) => {
    const { db } = runtime;
    let key = '';
    {
      await migrateToLatest(db);
      await upsertModel(db, await validateSpec(db, { name: 'bench', estimator: 'external' }));
      const lines = ['key,value,lower,upper'];
      for (let i = 0; i < KEYS; i += 1) lines.push(`${keyOf(i)},${i / 7},${i / 7 - 1},${i / 7 + 1}`);
      await importCsv(runtime, 'bench', readableOf(`${lines.join('\n')}\n`), 'bench');
      key = await createApiKey(db, 'bench', 'read');
    }
    const api = await startProcess(
      BIN,
      ['serve'],
      { DATABASE_URL: url, PORT: '18181', ALMANAC_RATE_LIMIT: '0', LOG_LEVEL: 'warn' },
      'listening',
    );
    const baseline = await startProcess(
      BASELINE,
      [],
      { DATABASE_URL: url, PORT: '18182', VERSION_ID: '1' },
      'ready',
    );
    try {
      const auth = { authorization: `Bearer ${key}` };
      // warm both servers up first (JIT, connections, the key's verification): the first load
      // measured would otherwise pay for it, and rank below the same load run later
      await load('http://127.0.0.1:18182', () => `/estimates/${randomKey()}`, {}, undefined, CONNECTIONS, 3);
      await load(
        'http://127.0.0.1:18181',
        () => `/v1/models/bench/estimates/${randomKey()}`,
        auth,
        undefined,
        CONNECTIONS,
        3,
      );
      const base = await load('http://127.0.0.1:18182', () => `/estimates/${randomKey()}`, {});
      const random = await load(
        'http://127.0.0.1:18181',
        () => `/v1/models/bench/estimates/${randomKey()}`,
        auth,
      );
      // the same lookups as of an instant: the catalog finds its interval in memory (no query)
      const at = encodeURIComponent(new Date().toISOString());
      const asOf = await load(
        'http://127.0.0.1:18181',
        () => `/v1/models/bench/estimates/${randomKey()}?at=${at}`,
        auth,
      );
      const hot = await load('http://127.0.0.1:18181', () => '/v1/models/bench/estimates/key-0000042', auth);
      const baseHot = await load('http://127.0.0.1:18182', () => '/estimates/key-0000042', {});
      const batch = await load(
        'http://127.0.0.1:18181',
        () => '/v1/models/bench/estimates/batch',
        auth,
        () => JSON.stringify({ keys: Array.from({ length: 1000 }, randomKey) }),
      );
      const lone = await load(
        'http://127.0.0.1:18181',
        () => '/v1/models/bench/estimates/batch',
        auth,
        () => JSON.stringify({ keys: Array.from({ length: 1000 }, randomKey) }),
        1,
      );
      rows.push(
        { case: 'baseline: random single lookups (node:http + pg)', ...figures(base) },
        { case: 'API: random single lookups', ...figures(random), 'vs baseline': ratio(random, base) },
        {
          case: 'API: random single lookups ?at= an instant',
          ...figures(asOf),
          'vs baseline': ratio(asOf, base),
          'vs plain': ratio(asOf, random),
        },
        { case: 'baseline: one hot key', ...figures(baseHot) },
        { case: 'API: one hot key (in-process cache)', ...figures(hot), 'vs baseline': ratio(hot, base) },
        { case: `API: batches of 1,000 random keys, ${CONNECTIONS} connections`, ...figures(batch) },
        { case: 'API: batches of 1,000 random keys, 1 connection', ...figures(lone) },
      );
      const [ours, psql] = [
        await snapshotRate(`http://127.0.0.1:18181/v1/models/bench/versions/1/snapshot`, auth),
        await psqlRate(url),
      ];
      rows.push(
        { case: 'psql \\copy of the version (CSV)', 'MB/s': psql },
        { case: 'API: CSV snapshot', 'MB/s': ours, 'vs baseline': Number((ours / psql).toFixed(2)) },
      );
    } finally {
      await stopProcess(api);
      await stopProcess(baseline);
    }
  });
  printTable(rows);
}

type Result = autocannon.Result;

function load(
  url: string,
  path: () => string,
  headers: Record<string, string>,
  body?: () => string,
  connections = CONNECTIONS,
  seconds = DURATION,
): Promise<Result> {
  return autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: body === undefined ? 'GET' : 'POST',
        setupRequest: (request) => ({
          ...request,
          path: path(),
          headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: body() }),
        }),
      },
    ],
  });
}

const figures = (result: Result) => ({
  'req/s': Math.round(result.requests.average),
  'p50 ms': result.latency.p50,
  'p99 ms': result.latency.p99,
  errors: result.errors + result.non2xx,
});
const ratio = (ours: Result, base: Result) =>
  Number((ours.requests.average / base.requests.average).toFixed(2));

async function snapshotRate(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  let bytes = 0;
  for await (const chunk of res.body ?? []) bytes += (chunk as Uint8Array).length;
  return Number((bytes / 1e6 / ((performance.now() - started) / 1000)).toFixed(1));
}

async function psqlRate(url: string): Promise<number> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    'psql',
    [
      url,
      '-Atc',
      '\\copy (SELECT key, value, lower, upper, as_of FROM estimates WHERE version_id = 1 ORDER BY key) to stdout with (format csv, header)',
    ],
    { maxBuffer: 1024 ** 3, encoding: 'buffer' },
  );
  return Number((stdout.length / 1e6 / ((performance.now() - started) / 1000)).toFixed(1));
}
