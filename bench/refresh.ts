import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { readDemoSpec } from '../seeds/demo-specs.ts';
import { advanceMarket, seedMarket } from '../seeds/load-market.ts';
import type { Db } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { findRun } from '../src/db/runs.ts';
import { findVersionById, type Version } from '../src/db/versions.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { requestRefresh } from '../src/runs/request.ts';
import type { Runtime } from '../src/runtime.ts';
import { checkpoint, printTable, seconds, withScratchDatabase } from './scratch.ts';
import { peakRssMb, spawnWorker } from './worker-process.ts';

/**
 * A refresh of 100,000 keys and of 1,000,000 keys (3 days of source each), by a real worker
 * process, then the next night's refresh of the 1,000,000 (the source a day longer): time per
 * phase, keys/s, the worker's peak RSS, and the floor measured in the same run: a plain COPY FROM
 * STDIN of the same rows into an empty table plus its primary key (copyFloor: keys descending, and
 * sorted). A first version has no input checks against a published version and no drift report
 * against one; the next night has both.
 *
 * Each of those runs in a worker just started, whose Postgres backends are all new. The 1,000,000
 * keys are refreshed again, first and next night, by a warm worker: one that has run a refresh
 * of another model on the same source just before, as a long-lived worker has every night but
 * its first (it keeps its connections, src/runtime.ts).
 */
export async function benchRefresh(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async (runtime, url) => {
    await migrateToLatest(runtime.db);
    for (const keys of [100_000, 1_000_000]) {
      await seedBenchMarket(runtime, keys);
      const name = `bench-${keys}`;
      await applyBenchModel(runtime.db, name);
      rows.push(await measureRefresh(url, runtime, name, keys, String(keys)));
    }
    for (const name of ['bench-warm-up', 'bench-warm']) await applyBenchModel(runtime.db, name);
    rows.push(
      await measureRefresh(url, runtime, 'bench-warm', 1_000_000, '1000000, warm worker', 'bench-warm-up'),
    );
    await advanceMarket(runtime.pool, 1);
    await runtime.pool.query('VACUUM (ANALYZE) demo.daily_prices');
    rows.push(await measureRefresh(url, runtime, 'bench-1000000', 1_000_000, '1000000, next day'));
    rows.push(
      await measureRefresh(
        url,
        runtime,
        'bench-warm',
        1_000_000,
        '1000000, next day, warm worker',
        'bench-warm-up',
      ),
    );
  });
  printTable(rows);
}

async function measureRefresh(
  url: string,
  runtime: Runtime,
  name: string,
  keys: number,
  label: string,
  warmUp?: string,
): Promise<Record<string, string | number>> {
  const { wall, version, peakRssMb: rss } = await refreshByWorkers(url, runtime, name, 1, warmUp);
  const phases = version.lineage.phasesMs ?? {};
  const steps = version.lineage.stepsMs ?? {};
  const floorMs = await copyFloor(url, version.id);
  const sortedFloorMs = await copyFloor(url, version.id, true);
  const writeAndIndex = steps.writeAndIndex ?? Number.NaN;
  return {
    keys: label,
    'checking s': seconds(phases.checking ?? Number.NaN),
    'training s': seconds(phases.training ?? Number.NaN),
    'scoring s': seconds(phases.scoring ?? Number.NaN),
    '(score, copy) s': `${seconds(steps.score ?? Number.NaN)}, ${seconds(steps.copy ?? Number.NaN)}`,
    'indexing s': seconds(phases.indexing ?? Number.NaN),
    '(index+attach, checksum) s': `${seconds(steps.indexAndAttach ?? Number.NaN)}, ${seconds(steps.checksum ?? Number.NaN)}`,
    'validating s': seconds(phases.validating ?? Number.NaN),
    'publishing s': seconds(phases.publishing ?? Number.NaN),
    'refresh s': seconds(wall),
    'keys/s': Math.round(keys / (wall / 1000)),
    'floor s': seconds(floorMs),
    'refresh vs floor': Number((wall / floorMs).toFixed(2)),
    'sorted floor s': seconds(sortedFloorMs),
    'vs sorted floor': Number((wall / sortedFloorMs).toFixed(2)),
    'write+index s': seconds(writeAndIndex),
    'w+i vs floor': Number((writeAndIndex / floorMs).toFixed(2)),
    'worker peak RSS MB': Math.max(...rss),
  };
}

/**
 * The demo market with `keys` tickers × 3 days, replacing whatever the table held, vacuumed as
 * autovacuum would leave a loaded table: the first scan of fresh rows otherwise sets every row's
 * hint bits and writes every page again, a cost of the load rather than of the refresh.
 */
export async function seedBenchMarket(runtime: Runtime, keys: number): Promise<void> {
  await seedMarket(runtime.pool, { keys, days: 3, seed: 42, start: '2026-01-01' });
  await runtime.pool.query('VACUUM (ANALYZE) demo.daily_prices');
}

/**
 * The demo spec under a name of its own (so its first refresh is a first version, like every
 * other bench model's), fitted to the 3 seeded days: 2 to train on, 1 held out. `extra` overrides
 * the spec's fields (`shards`).
 */
export async function applyBenchModel(
  db: Db,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const demo = (await readDemoSpec('nasdaq-close')) as Record<string, unknown>;
  await upsertModel(
    db,
    await validateSpec(db, { ...demo, name, trainWindowDays: 3, holdoutDays: 1, ...extra }),
  );
}

export type WorkersRefresh = {
  runId: string;
  /** ms from the request to the run's end */
  wall: number;
  version: Version;
  /** each worker process's peak RSS, in MB, read before it stopped */
  peakRssMb: number[];
};

/**
 * A refresh of `model` by `workers` real worker processes: the clock starts once every one of
 * them listens on the queue (and, given `warmUp`, once they have refreshed that model first), the
 * run is followed to its end, and the workers stop after their peak RSS is read. A worker that
 * dies or a run that fails or never ends stops the bench.
 */
export async function refreshByWorkers(
  url: string,
  runtime: Runtime,
  model: string,
  workers: number,
  warmUp?: string,
): Promise<WorkersRefresh> {
  const { db, config } = runtime;
  const spawned = Array.from({ length: workers }, () =>
    spawnWorker({
      DATABASE_URL: url,
      ALMANAC_REDIS_PREFIX: config.redisPrefix,
      REDIS_URL: config.redisUrl,
    }),
  );
  const producer = runtime.producer();
  const queue = producer.queue;
  try {
    await queue.waitUntilReady();
    const deadline = Date.now() + 10 * 60_000;
    const alive = () => {
      const dead = spawned.find((worker) => worker.child.exitCode !== null);
      if (dead !== undefined) throw new Error(`a worker exited (${dead.child.exitCode})`);
      if (Date.now() > deadline) throw new Error('the refresh did not finish within 10 minutes');
    };
    while ((await queue.getWorkersCount()) !== workers) {
      alive();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const refreshed = async (name: string) => {
      const { run } = await requestRefresh(db, producer.enqueueRefresh, { model: name, trigger: 'bench' });
      let finished = await findRun(db, run.id);
      while (finished?.state !== 'succeeded' && finished?.state !== 'failed') {
        alive();
        await new Promise((resolve) => setTimeout(resolve, 50));
        finished = await findRun(db, run.id);
      }
      if (finished.state === 'failed') throw new Error(`refresh of ${name} failed: ${finished.error}`);
      return { run, finished };
    };
    if (warmUp !== undefined) await refreshed(warmUp);
    await checkpoint(runtime.pool);
    const started = performance.now();
    const { run, finished } = await refreshed(model);
    const wall = performance.now() - started;
    const version = await findVersionById(db, finished.versionId ?? '');
    if (version === undefined) throw new Error(`refresh of ${model} left no version`);
    const rss = await Promise.all(spawned.map((worker) => peakRssMb(worker.child.pid ?? 0)));
    return { runId: run.id, wall, version, peakRssMb: rss };
  } finally {
    await Promise.all(spawned.map((worker) => worker.stop()));
  }
}

/**
 * COPY of the version's own rows (same columns) into an empty table, then its primary key: the
 * floor. Its rows go in key-descending order, the order every refresh wrote its rows in until
 * 2026-12-03 (and so the floor of every figure measured before, the included); a refresh
 * now writes them ascending, the primary key's order, which its index build sorts faster. With
 * `ascending`, the floor gets that advantage too: printed beside, so neither figure hides it.
 */
export async function copyFloor(url: string, versionId: string, ascending = false): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chunks: Buffer[] = [];
    const source = client.query(
      copyTo(
        `COPY (SELECT key, value, lower, upper, as_of FROM estimates WHERE version_id = ${versionId}
               ORDER BY key ${ascending ? 'ASC' : 'DESC'}) TO STDOUT`,
      ),
    );
    for await (const chunk of source) chunks.push(chunk as Buffer);
    await client.query('DROP TABLE IF EXISTS bench_floor');
    await client.query(
      'CREATE TABLE bench_floor (key text COLLATE "C", value float8, lower float8, upper float8, as_of timestamptz)',
    );
    await checkpoint(client);
    const started = performance.now();
    await pipeline(Readable.from(chunks), client.query(copyFrom('COPY bench_floor FROM STDIN')));
    await client.query('ALTER TABLE bench_floor ADD PRIMARY KEY (key)');
    const elapsed = performance.now() - started;
    await client.query('DROP TABLE bench_floor');
    return elapsed;
  } finally {
    await client.end();
  }
}
