import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRun } from '../../src/db/runs.ts';
import { listVersions } from '../../src/db/versions.ts';
import { requestRefresh } from '../../src/runs/request.ts';
import { startTestApi, type TestApi } from '../helpers/api.ts';
import { useCleanups, useConnections, useMarket, useRedisPrefix, useTestDatabase } from '../helpers/hooks.ts';
import { invariantViolations } from '../helpers/invariants.ts';
import {
  applySpec,
  demoSpec,
  lenientDrift,
  type Pipeline,
  publishFirst,
  startPipeline,
  waitForRun,
} from '../helpers/pipeline.ts';
import { waitFor } from '../helpers/worker-process.ts';

const KEYS = 200_000;
const database = useTestDatabase('fault-postgres');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
useMarket({ pool }, { keys: KEYS, days: 3, seed: 23, start: '2026-03-01' });
const cleanups = useCleanups();
let api: TestApi;
let key = '';

beforeAll(async () => {
  await applySpec(db(), demoSpec({ trainWindowDays: 3, holdoutDays: 1, drift: lenientDrift }));
  await publishFirst(database.url, 'prices');
  const { rows } = await sql<{ key: string }>`SELECT key FROM latest_estimates LIMIT 1`.execute(db());
  key = rows[0]?.key ?? '';
  api = await startTestApi(database.url, 'almanac-test-no-queue');
}, 180_000);
afterAll(async () => {
  await api?.close();
});

async function pipeline(): Promise<Pipeline> {
  const started = await startPipeline(database.url, prefix.current, {
    tuning: { lockDuration: 2_000, stalledInterval: 500 },
  });
  cleanups.push(started.close);
  return started;
}

/** The backend of a COPY into a version's table, once one is running. */
async function copyBackend(): Promise<number> {
  return waitFor(
    async () => {
      const { rows } = await sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY estimates\\_v%'`.execute(
        db(),
      );
      return rows[0]?.pid;
    },
    60_000,
    'a COPY into a version table',
    2,
  );
}

describe('Postgres failing under a refresh', () => {
  it("the worker's connection terminated mid-COPY: the attempt fails, the retry publishes once", async () => {
    const { enqueue } = await pipeline();
    const { run } = await requestRefresh(db(), enqueue, { model: 'prices', trigger: 'fault' });
    const pid = await copyBackend();
    await sql`SELECT pg_terminate_backend(${pid})`.execute(db());
    const finished = await waitForRun(db(), run.id, 90_000);
    expect(finished).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(await invariantViolations(db(), pool())).toEqual([]);
    const served = await api.json(`/v1/models/prices/estimates/${encodeURIComponent(key)}`);
    expect(served).toMatchObject({ status: 200, body: { version: finished.version } });
  });

  it('the disk full during COPY: the run fails cleanly and the published version keeps serving', async () => {
    // a 4 MB tablespace that new tables go to: a version's table fills it long before its end
    const mount = `/tmp/almanac-full-disk-${process.pid}`;
    mkdirSync(mount, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mount]);
    execFileSync('chown', ['postgres:postgres', mount]);
    const tablespace = `almanac_full_${process.pid}`;
    cleanups.push(async () => {
      await sql`ALTER DATABASE ${sql.id(database.name)} RESET default_tablespace`.execute(db());
      await sql`DROP TABLESPACE IF EXISTS ${sql.id(tablespace)}`.execute(db());
      execFileSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    });
    await sql`CREATE TABLESPACE ${sql.id(tablespace)} LOCATION ${sql.lit(mount)}`.execute(db());
    await sql`ALTER DATABASE ${sql.id(database.name)} SET default_tablespace = ${sql.lit(tablespace)}`.execute(
      db(),
    );

    const published = (await listVersions(db(), 'prices', { limit: 1 }))[0];
    const { enqueue } = await pipeline();
    const { run } = await requestRefresh(db(), enqueue, { model: 'prices', trigger: 'fault' });
    const finished = await waitForRun(db(), run.id, 120_000);
    expect(finished.state).toBe('failed');
    expect(finished.attempts).toBe(3);
    expect(finished.error).toMatch(/could not extend file|No space left on device/);
    expect((await findRun(db(), run.id))?.version).toBe(
      published === undefined ? null : published.number + 1,
    );
    expect(await invariantViolations(db(), pool())).toEqual([]);
    const versions = await listVersions(db(), 'prices', { limit: 2 });
    expect(versions.map((v) => v.state)).toEqual(['failed', 'published']);
    const served = await api.json(`/v1/models/prices/estimates/${encodeURIComponent(key)}`);
    expect(served).toMatchObject({ status: 200, body: { version: published?.number } });
  });
});
