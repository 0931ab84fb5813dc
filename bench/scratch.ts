import { randomUUID } from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.ALMANAC_BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A scratch database for one benchmark, dropped when `work` ends. */
export async function withScratchDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `almanac_bench_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

export function printTable(rows: Record<string, string | number>[]): void {
  console.table(rows);
}

export const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
