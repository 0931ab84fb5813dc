import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { listVersions } from '../src/db/versions.ts';
import { applyRetention } from '../src/versions/retention.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec } from './helpers/pipeline.ts';

const { database, db, pool, advance } = useTestSetup('lifecycle', {
  market: { keys: 500, days: 30, seed: 8 },
  pipeline: true,
});

const states = async (model: string) =>
  (await listVersions(db(), model, { limit: 50 })).map((v) => `v${v.number}:${v.state}`).join(' ');
const served = async (model: string) =>
  (
    await sql<{
      version: number;
    }>`SELECT DISTINCT version FROM latest_estimates WHERE model = ${model}`.execute(db())
  ).rows;

describe('almanac run --wait', () => {
  it('exits 0 when the version is published', async () => {
    await applySpec(db(), demoSpec({ name: 'lc' }));
    const run = await runCli('run', 'lc', '--wait', '--timeout', '60');
    expect(run).toMatchObject({ code: 0, stdout: 'published version 1 of lc (500 keys)\n' });
    expect(run.stderr).toMatch(/run lc: 100% done/);
  });

  it('exits 3 when the drift gate holds the version, which is then approved or rejected', async () => {
    await applySpec(db(), demoSpec({ name: 'lc', drift: { minRows: 10_000 } }));
    const held = await runCli('run', 'lc', '--wait');
    expect(held.code).toBe(3);
    expect(held.stdout).toMatch(/version 2 of lc \(\d+ keys\) was held by the drift gate/);
    expect(await states('lc')).toBe('v2:held v1:published');
    expect(await served('lc')).toEqual([{ version: 1 }]);

    expect(await runCli('reject', 'lc', '2', '--reason', 'too few rows')).toMatchObject({
      code: 0,
      stdout: 'rejected version 2 of lc\n',
    });
    expect(await states('lc')).toBe('v2:rejected v1:published');
    const again = await runCli('publish', 'lc', '2');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      'version 2 of "lc" is rejected; only a held version (approve) or a superseded one',
    );

    expect((await runCli('run', 'lc', '--wait')).code).toBe(3);
    expect(await runCli('publish', 'lc', '3', '--reason', 'checked by hand')).toMatchObject({ code: 0 });
    expect(await states('lc')).toBe('v3:published v2:rejected v1:superseded');
    expect(await served('lc')).toEqual([{ version: 3 }]);
    const show = JSON.parse((await runCli('show', 'lc', '3')).stdout) as {
      lineage: { published: { reason: string } };
    };
    expect(show.lineage.published.reason).toBe('checked by hand');
  });

  it('exits 1 when the run fails', async () => {
    await sql`CREATE TABLE demo.fragile AS SELECT * FROM demo.daily_prices`.execute(db());
    await applySpec(
      db(),
      demoSpec({ name: 'lc-fragile', source: { ...demoSpec().source, table: 'demo.fragile' } }),
    );
    await sql`DROP TABLE demo.fragile`.execute(db());
    const run = await runCli('run', 'lc-fragile', '--wait');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/failed: source table demo\.fragile does not exist\n$/);
  });
});

describe('rollback and retention', () => {
  it('rolls back by publishing a superseded version, and records the history', async () => {
    await applySpec(db(), demoSpec({ name: 'rb' }));
    expect((await runCli('run', 'rb', '--wait')).code).toBe(0);
    await advance(1);
    expect((await runCli('run', 'rb', '--wait')).code).toBe(0);
    expect(await runCli('publish', 'rb', '1', '--reason', 'v2 looks wrong')).toMatchObject({ code: 0 });
    expect(await states('rb')).toBe('v2:superseded v1:published');
    expect(await served('rb')).toEqual([{ version: 1 }]);
    const { rows } = await sql<{ version: number; open: boolean; reason: string | null }>`
      SELECT v.number AS version, p.valid_to IS NULL AS open, p.reason
      FROM publications p JOIN versions v ON v.id = p.version_id WHERE p.model = 'rb' ORDER BY p.id`.execute(
      db(),
    );
    expect(rows).toEqual([
      { version: 1, open: false, reason: expect.stringContaining('passed the drift gate') },
      { version: 2, open: false, reason: expect.stringContaining('passed the drift gate') },
      { version: 1, open: true, reason: 'v2 looks wrong' },
    ]);
    const published = await runCli('publish', 'rb', '1');
    expect(published.code).toBe(1);
    expect(published.stderr).toContain('is published');
  });

  it('prunes old versions while lookups read the published one, without a single error', async () => {
    await applySpec(db(), demoSpec({ name: 'pr', retention: { keepVersions: 2 } }));
    const reader = new pg.Client({ connectionString: database.url });
    await reader.connect();
    let reading = true;
    let lookups = 0;
    const errors: string[] = [];
    const loop = (async () => {
      while (reading) {
        try {
          const { rows } = await reader.query(
            `SELECT e.value FROM estimates e JOIN models m ON e.version_id = m.published_version_id
             WHERE m.name = 'pr' AND e.key = (SELECT min(key) FROM estimates WHERE version_id = m.published_version_id)`,
          );
          if (rows.length === 1) lookups += 1;
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    })();
    try {
      for (let i = 0; i < 5; i += 1) expect((await runCli('run', 'pr', '--wait')).code).toBe(0);
    } finally {
      reading = false;
      await loop;
      await reader.end();
    }
    // A detach that could not get its lock within the timeout (a loaded machine) is finished by
    // the next retention pass: run one, as the next publish would.
    const client = await pool().connect();
    const lastPass = await applyRetention(db(), client, 'pr', 2).finally(() => client.release());
    const { rows } = await sql<{ version: number; table: string | null }>`
      SELECT number AS version, to_regclass('estimates_v' || id)::text AS table
      FROM versions WHERE model = 'pr' ORDER BY number`.execute(db());
    expect({
      errors,
      states: await states('pr'),
      tables: rows.map((row) => row.table !== null),
      lastPass,
    }).toEqual({
      errors: [],
      states: 'v5:published v4:superseded v3:pruned v2:pruned v1:pruned',
      tables: [false, false, false, true, true],
      lastPass: expect.objectContaining({ deferred: [] }),
    });
    expect(lookups).toBeGreaterThan(10);
    expect((await runCli('publish', 'pr', '1')).stderr).toContain('was pruned by retention');
  });

  it('applies retention after an approval too, as after any publish', async () => {
    await applySpec(db(), demoSpec({ name: 'ap', retention: { keepVersions: 2 } }));
    for (let i = 0; i < 2; i += 1) expect((await runCli('run', 'ap', '--wait')).code).toBe(0);
    await applySpec(db(), demoSpec({ name: 'ap', retention: { keepVersions: 2 }, drift: { minRows: 1e9 } }));
    expect((await runCli('run', 'ap', '--wait')).code).toBe(3);
    expect(await states('ap')).toBe('v3:held v2:published v1:superseded');
    expect((await runCli('publish', 'ap', '3', '--reason', 'checked by hand')).code).toBe(0);
    expect(await states('ap')).toBe('v3:published v2:superseded v1:pruned');
  });
});
