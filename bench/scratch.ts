import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { parseConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';

const ADMIN_URL = process.env.ALMANAC_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A scratch database for one benchmark, with a runtime on it (src/runtime.ts: the processes'
 * wiring) whose Redis prefix is its own; both go when `work` ends.
 */
export async function withScratchDatabase<T>(
  work: (runtime: Runtime, url: string) => Promise<T>,
): Promise<T> {
  const name = `almanac_bench_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    const config = parseConfig({
      DATABASE_URL: url.toString(),
      REDIS_URL: process.env.REDIS_URL,
      ALMANAC_REDIS_PREFIX: `almanac-bench-${randomUUID().slice(0, 8)}`,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    });
    const runtime = openRuntime(config, 'cli', { logger: createLogger(config) });
    try {
      return await work(runtime, url.toString());
    } finally {
      await runtime
        .producer()
        .queue.obliterate({ force: true })
        .catch(() => {});
      await runtime.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * Writes out what earlier steps left dirty (a seed's pages, a refresh's rows) before a timed step
 * starts: otherwise a checkpoint lands inside whichever step happens to be running, and the same
 * step measured 1.8 s in one run and 3.1 s in the next. Needs a superuser or pg_checkpoint.
 */
export async function checkpoint(client: Pick<pg.ClientBase, 'query'>): Promise<void> {
  await client.query('CHECKPOINT');
}

export function printTable(rows: Record<string, string | number>[]): void {
  console.table(rows);
}

export const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
