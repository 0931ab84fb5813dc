import { loadavg } from 'node:os';
import { migrateToLatest } from '../src/db/migrate.ts';
import { listRunShards, type RunShard } from '../src/db/run-shards.ts';
import type { Runtime } from '../src/runtime.ts';
import { applyBenchModel, copyFloor, refreshByWorkers, seedBenchMarket } from './refresh.ts';
import { printTable, seconds, withScratchDatabase } from './scratch.ts';

/**
 * Refreshes of 1,000,000 keys × 3 days of source in 1, 2 and 4 shards by 1 and 2 real worker
 * processes, and of 2,000,000 keys unsharded by one (does a worker's memory stay flat as the keys
 * double?), each a first version of a model of its own; the floor (a plain COPY + primary key of
 * the same rows) measured once per source size; each shard's rate from `run_shards`; and from
 * those figures a projection of 10,000,000 keys on 4 machines.
 */

const PHASES = ['checking', 'training', 'scoring', 'indexing', 'validating', 'publishing'] as const;

type ScaleRun = {
  config: string;
  keys: number;
  shards: number;
  workers: number;
  /** ms from the request to the run's end */
  wall: number;
  phases: Record<string, number>;
  steps: Record<string, number>;
  /** the largest peak RSS of the run's worker processes, MB */
  peakRssMb: number;
  shardRows: RunShard[];
};

const ONE_MILLION = 1_000_000;
const TWO_MILLION = 2_000_000;

export async function benchScale(): Promise<void> {
  const runs: ScaleRun[] = [];
  const floors = new Map<number, number>();
  // the figures move with whatever else the machine runs: the load is printed beside them
  console.log(`load average at start: ${loadAverage()}`);
  await withScratchDatabase(async (runtime, url) => {
    await migrateToLatest(runtime.db);
    const seed = async (keys: number) => {
      const started = performance.now();
      await seedBenchMarket(runtime, keys);
      console.log(`seeded ${n(keys)} keys × 3 days: ${seconds(performance.now() - started)} s`);
    };
    const measure = async (keys: number, shards: number, workers: number) => {
      const run = await scaleRun(url, runtime, keys, shards, workers);
      runs.push(run);
      console.log(`${run.config}: refresh ${seconds(run.wall)} s`);
      if (floors.has(keys)) return;
      floors.set(keys, await copyFloor(url, run.versionId));
      console.log(`floor at ${n(keys)} keys: ${seconds(floors.get(keys) ?? Number.NaN)} s`);
    };
    await seed(ONE_MILLION);
    for (const shards of [1, 2, 4]) {
      for (const workers of [1, 2]) await measure(ONE_MILLION, shards, workers);
    }
    await seed(TWO_MILLION);
    await measure(TWO_MILLION, 1, 1);
  });
  console.log(`load average at end: ${loadAverage()}`);

  printTable(runs.map((run) => runRow(run, floors.get(run.keys) ?? Number.NaN)));
  console.log(
    'write+index: from the first byte of COPY to the end of ATTACH; for a sharded run the parent’s, from its resume (attaching the shards, the primary key, ATTACH): the shards’ own COPY and primary keys are inside scoring',
  );
  printTable(runs.flatMap(shardRows));
  for (const [keys, ms] of floors)
    console.log(`floor at ${keys.toLocaleString('en-US')} keys: ${seconds(ms)} s`);
  console.log('');
  for (const line of summary(runs, floors)) console.log(line);
  console.log('');
  for (const line of projection(runs)) console.log(line);
}

async function scaleRun(
  url: string,
  runtime: Runtime,
  keys: number,
  shards: number,
  workers: number,
): Promise<ScaleRun & { versionId: string }> {
  const size = keys === ONE_MILLION ? '' : `${keys / ONE_MILLION}m-`;
  const name = `scale-${size}s${shards}-w${workers}`;
  await applyBenchModel(runtime.db, name, { shards });
  const refreshed = await refreshByWorkers(url, runtime, name, workers);
  return {
    config: `${size}s${shards}-w${workers}`,
    keys,
    shards,
    workers,
    wall: refreshed.wall,
    phases: refreshed.version.lineage.phasesMs ?? {},
    steps: refreshed.version.lineage.stepsMs ?? {},
    peakRssMb: Math.max(...refreshed.peakRssMb),
    shardRows: await listRunShards(runtime.db, refreshed.runId),
    versionId: refreshed.version.id,
  };
}

const n = (value: number) => value.toLocaleString('en-US');
const loadAverage = () =>
  loadavg()
    .map((load) => load.toFixed(1))
    .join(', ');
const ratio = (part: number, whole: number) => Number((part / whole).toFixed(2));
const phase = (run: ScaleRun, name: string) => run.phases[name] ?? Number.NaN;
const phaseSum = (run: ScaleRun, names: readonly string[]) =>
  names.reduce((sum, name) => sum + phase(run, name), 0);

function runRow(run: ScaleRun, floorMs: number): Record<string, string | number> {
  const writeAndIndex = run.steps.writeAndIndex ?? Number.NaN;
  return {
    config: run.config,
    keys: run.keys,
    shards: run.shards,
    workers: run.workers,
    'refresh s': seconds(run.wall),
    ...Object.fromEntries(PHASES.map((name) => [`${name} s`, seconds(phase(run, name))])),
    // job hand-offs: the run's pick-up, the shards' and the parent's resume
    'other s': seconds(run.wall - phaseSum(run, PHASES)),
    'write+index s': seconds(writeAndIndex),
    'keys/s': Math.round(run.keys / (run.wall / 1000)),
    'vs floor': ratio(run.wall, floorMs),
    'w+i vs floor': ratio(writeAndIndex, floorMs),
    'worker peak RSS MB': run.peakRssMb,
  };
}

const shardSeconds = (shard: RunShard) =>
  ((shard.finishedAt?.getTime() ?? Number.NaN) - (shard.startedAt?.getTime() ?? Number.NaN)) / 1000;

function shardRows(run: ScaleRun): Record<string, string | number>[] {
  return run.shardRows.map((shard) => ({
    config: run.config,
    shard: shard.index,
    worker: shard.worker ?? '',
    rows: shard.rows,
    seconds: Number(shardSeconds(shard).toFixed(2)),
    'rows/s': Math.round(shard.rows / shardSeconds(shard)),
  }));
}

function find(runs: ScaleRun[], keys: number, shards: number, workers: number): ScaleRun {
  const run = runs.find((r) => r.keys === keys && r.shards === shards && r.workers === workers);
  if (run === undefined) throw new Error(`no run of ${keys} keys, ${shards} shards, ${workers} workers`);
  return run;
}

/** The goals' figures, one line each (README.md, Benchmarks). */
function summary(runs: ScaleRun[], floors: Map<number, number>): string[] {
  const floor = floors.get(ONE_MILLION) ?? Number.NaN;
  const single = find(runs, ONE_MILLION, 1, 1);
  const spread = find(runs, ONE_MILLION, 2, 2);
  const doubled = find(runs, TWO_MILLION, 1, 1);
  const doubledWrite = ratio(
    doubled.steps.writeAndIndex ?? Number.NaN,
    floors.get(TWO_MILLION) ?? Number.NaN,
  );
  return [
    `1 worker, 1 shard: refresh = ${ratio(single.wall, floor)}× floor (goal ≤ 3×)`,
    `2 shards over 2 workers: ${ratio(spread.wall, floor)}× (goal ≤ 2.5×)`,
    `write+index = ${ratio(single.steps.writeAndIndex ?? Number.NaN, floor)}× (2,000,000 keys: ${doubledWrite}×) (goal ≤ 1.3×)`,
    `worker peak RSS 1M: ${single.peakRssMb} MB, 2M: ${doubled.peakRssMb} MB (goal < 300 MB, flat)`,
  ];
}

const TARGET_KEYS = 10_000_000;
const MACHINES = 4;
const TARGET_SHARDS = 8;
/** ALMANAC_WORKER_CONCURRENCY's default: job slots per worker process */
const SLOTS_PER_WORKER = 2;

/**
 * 10,000,000 keys on 4 machines, from the run of 2 shards over 2 workers at 1,000,000 keys (each
 * worker like one of those machines, its two slots scoring at once on two cores). The serial
 * parts are taken to grow with the source's rows; a shard's scoring somewhere between its own rows
 * (the rate holds) and the whole source, which every shard reads to keep its share (README.md,
 * Sharded scoring): the projection is that range.
 */
function projection(runs: ScaleRun[]): string[] {
  const base = find(runs, ONE_MILLION, 2, 2);
  const single = find(runs, ONE_MILLION, 1, 1);
  const doubled = find(runs, TWO_MILLION, 1, 1);
  const factor = TARGET_KEYS / base.keys;
  const shardMs =
    (1000 * base.shardRows.reduce((sum, shard) => sum + shardSeconds(shard), 0)) / base.shardRows.length;
  const shardRows = base.shardRows.reduce((sum, shard) => sum + shard.rows, 0) / base.shardRows.length;
  const targetShardRows = TARGET_KEYS / TARGET_SHARDS;
  const waves = Math.ceil(TARGET_SHARDS / (MACHINES * SLOTS_PER_WORKER));
  const before = phaseSum(base, ['checking', 'training']);
  const after = phaseSum(base, ['indexing', 'validating']);
  const publishing = phase(base, 'publishing');
  const other = base.wall - phaseSum(base, PHASES);
  const scoringLow = waves * shardMs * (targetShardRows / shardRows);
  const scoringHigh = waves * shardMs * factor;
  const fixed = before * factor + after * factor + publishing + other;
  return [
    `projection: ${n(TARGET_KEYS)} keys × 3 days on ${MACHINES} machines × 1 worker (${SLOTS_PER_WORKER} job slots), shards = ${TARGET_SHARDS} (${waves} wave), a first version`,
    `  measured (${base.config}, ${n(base.keys)} keys): checking + training ${seconds(before)} s; a shard ${seconds(shardMs)} s for ${n(Math.round(shardRows))} rows (${n(Math.round(shardRows / (shardMs / 1000)))} rows/s per shard process); indexing + validating ${seconds(after)} s; publishing ${seconds(publishing)} s; other (job hand-offs) ${seconds(other)} s`,
    `  checking + training × ${factor} (one worker trains, over the source's rows): ${seconds(before * factor)} s`,
    `  scoring, ${waves} × a shard of ${n(targetShardRows)} rows: ${seconds(shardMs)} s × ${ratio(targetShardRows, shardRows)} (its rows, at the same rate) to × ${factor} (it reads the whole source): ${seconds(scoringLow)}–${seconds(scoringHigh)} s`,
    `  indexing + validating × ${factor} (Postgres, over the version's rows) + publishing + other as measured: ${seconds(after * factor + publishing + other)} s`,
    `  projected refresh: ${seconds(fixed + scoringLow)}–${seconds(fixed + scoringHigh)} s`,
    `  the serial parts' growth measured from ${n(ONE_MILLION)} to ${n(TWO_MILLION)} keys (1 shard, 1 worker; linear would be ×2): checking + training ×${ratio(phaseSum(doubled, ['checking', 'training']), phaseSum(single, ['checking', 'training']))}, indexing + validating ×${ratio(phaseSum(doubled, ['indexing', 'validating']), phaseSum(single, ['indexing', 'validating']))}`,
    `  assumes: each machine has 2 cores like this one and runs its 2 shards at the rate measured here (where Postgres shared those cores); one Postgres serves all 8 shards' scans and COPYs at once without slowing them (not measured: it needs the cores and disk for it); a first version, so no input checks against a published version and no drift report (a later refresh adds both, each over the whole source or version)`,
  ];
}
