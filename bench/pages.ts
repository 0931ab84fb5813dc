import { readDemoSpec } from '../seeds/demo-specs.ts';
import { advanceMarket, seedMarket } from '../seeds/load-market.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { findRun } from '../src/db/runs.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { evaluateModel } from '../src/pipeline/evaluate.ts';
import { requestRefresh } from '../src/runs/request.ts';
import type { Runtime } from '../src/runtime.ts';
import { printTable, withScratchDatabase } from './scratch.ts';
import { BIN, spawnWorker, startProcess, stopProcess } from './worker-process.ts';

const KEYS = Number(process.env.BENCH_PAGE_KEYS ?? 1_000_000);
const VERSIONS = Number(process.env.BENCH_PAGE_VERSIONS ?? 30);
const REQUESTS = 60;
const TARGET_P95_MS = 100;
const PORT = 18183;

/**
 * The dashboard's pages, timed by a client on this machine against a real `almanac serve`
 * (auth off): the demo's data (two models over 5,000 tickers, the third version held), then a
 * model of 1,000,000 keys with 30 versions. Each page is asked once cold (its charts not rendered
 * yet, a diff not computed yet), then REQUESTS times: p50 and p95 of those.
 */
export async function benchPages(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async (runtime, url) => {
    await migrateToLatest(runtime.db);
    await demoData(runtime, url);
    const big = await bigModel(runtime);
    const api = await startProcess(
      BIN,
      ['serve'],
      {
        DATABASE_URL: url,
        PORT: String(PORT),
        ALMANAC_AUTH: 'off',
        ALMANAC_RATE_LIMIT: '0',
        LOG_LEVEL: 'warn',
      },
      'listening',
    );
    try {
      const pages: [string, string][] = [
        ['demo: models', '/'],
        ['demo: model', '/models/nasdaq-close'],
        ['demo: version (its report drawn)', '/models/nasdaq-close/versions/3'],
        ['demo: diff v1 → v3', '/models/nasdaq-close/diff?from=1&to=3'],
        [`${big.keys} keys: models`, '/'],
        [`${big.keys} keys × ${big.versions} versions: model`, `/models/${big.name}`],
        [`${big.keys} keys: version`, `/models/${big.name}/versions/${big.versions}`],
        [
          `${big.keys} keys: diff v1 → v${big.versions}`,
          `/models/${big.name}/diff?from=1&to=${big.versions}`,
        ],
      ];
      for (const [label, path] of pages) rows.push({ page: label, ...(await time(path)) });
    } finally {
      await stopProcess(api);
    }
  });
  printTable(rows);
}

async function time(path: string): Promise<Record<string, string | number>> {
  const url = `http://127.0.0.1:${PORT}${path}`;
  const once = async () => {
    const started = performance.now();
    const res = await fetch(url);
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${body.slice(0, 200)}`);
    return { ms: performance.now() - started, bytes: body.length };
  };
  const cold = await once();
  const warm: number[] = [];
  for (let i = 0; i < REQUESTS; i += 1) warm.push((await once()).ms);
  warm.sort((a, b) => a - b);
  const at = (q: number) => warm[Math.min(warm.length - 1, Math.floor(q * warm.length))] ?? Number.NaN;
  return {
    'first ms': Math.round(cold.ms),
    'p50 ms': Number(at(0.5).toFixed(1)),
    'p95 ms': Number(at(0.95).toFixed(1)),
    'target p95': `< ${TARGET_P95_MS}`,
    KB: Math.round(cold.bytes / 1024),
  };
}

/** What `npm run demo` makes: two models, two days, then a shocked third that the gate holds. */
async function demoData(runtime: Runtime, url: string): Promise<void> {
  const { db, pool, config } = runtime;
  await seedMarket(pool, { keys: 5000, days: 120, seed: 42, start: '2026-01-01' });
  for (const name of ['nasdaq-close', 'nasdaq-naive'])
    await upsertModel(db, await validateSpec(db, await readDemoSpec(name)));
  const worker = spawnWorker({
    DATABASE_URL: url,
    ALMANAC_REDIS_PREFIX: config.redisPrefix,
    REDIS_URL: config.redisUrl,
  });
  const refresh = async (model: string) => {
    const { run } = await requestRefresh(db, runtime.producer().enqueueRefresh, { model, trigger: 'bench' });
    for (
      let found = await findRun(db, run.id);
      found?.state !== 'succeeded';
      found = await findRun(db, run.id)
    ) {
      if (found?.state === 'failed') throw new Error(`the refresh of ${model} failed: ${found.error}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  try {
    for (const model of ['nasdaq-close', 'nasdaq-naive']) await refresh(model);
    await advanceMarket(pool, 1);
    for (const model of ['nasdaq-close', 'nasdaq-naive']) await refresh(model);
    await advanceMarket(pool, 1, { shockPct: 30 });
    await refresh('nasdaq-close');
    for (const model of ['nasdaq-close', 'nasdaq-naive']) await evaluateModel(db, model, runtime.logger);
  } finally {
    await worker.stop();
  }
}

/** An external model with VERSIONS imported versions of KEYS keys each, every one judged and published. */
async function bigModel(runtime: Runtime): Promise<{ name: string; keys: number; versions: number }> {
  const name = 'big';
  const { db } = runtime;
  await upsertModel(
    db,
    await validateSpec(db, {
      name,
      estimator: 'external',
      retention: { keepVersions: VERSIONS },
      drift: { maxPsi: 10, maxKs: 1, maxWassersteinNorm: 10, maxChangedShare: 1 },
    }),
  );
  for (let v = 1; v <= VERSIONS; v += 1) {
    const started = performance.now();
    const lines = ['key,value'];
    for (let i = 0; i < KEYS; i += 1) lines.push(`key-${i},${(100 + 20 * Math.sin(i + v)).toFixed(4)}`);
    await importCsv(runtime, name, readableOf(`${lines.join('\n')}\n`), 'bench');
    process.stderr.write(
      `  pages: version ${v}/${VERSIONS} of ${KEYS} keys imported in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }
  return { name, keys: KEYS, versions: VERSIONS };
}
