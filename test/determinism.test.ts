import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findVersion } from '../src/db/versions.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec } from './helpers/pipeline.ts';

const { database, db, pipeline } = useTestSetup('determinism', {
  market: { keys: 2000, days: 40, seed: 9 },
  pipeline: true,
});
const MODELS = ['twin-a', 'twin-b', 'twin-c'];

beforeAll(async () => {
  // Make Postgres split every scan among parallel workers, whose partial sums meet in whatever
  // order the workers finish: the sums of a run then depend on timing, unless training keeps
  // them in one order.
  await sql`ALTER DATABASE ${sql.id(database.name)} SET parallel_setup_cost = 0`.execute(db());
  await sql`ALTER DATABASE ${sql.id(database.name)} SET parallel_tuple_cost = 0`.execute(db());
  await sql`ALTER DATABASE ${sql.id(database.name)} SET min_parallel_table_scan_size = 0`.execute(db());
  for (const name of MODELS) await applySpec(db(), demoSpec({ name, trainWindowDays: 30, holdoutDays: 5 }));
});

describe('the same data gives the same numbers', () => {
  it('refreshes of identical specs over identical data give bit-identical estimates and checksums', async () => {
    const runs = await Promise.all(MODELS.map((model) => pipeline().refresh(model)));
    expect(runs.map((run) => run.state)).toEqual(MODELS.map(() => 'succeeded'));
    const versions = await Promise.all(MODELS.map((model) => findVersion(db(), model, 1)));
    const [first, ...others] = versions;
    expect(first?.checksum).toMatch(/^[0-9a-f]{32}$/);
    for (const other of others) {
      expect(other?.checksum).toBe(first?.checksum);
      expect(other?.lineage.artifact).toEqual(first?.lineage.artifact);
      expect(other?.metrics).toEqual(first?.metrics);
    }
    // a re-run of the same slot of data reproduces the version: its checksum proves it
    const again = await pipeline().refresh('twin-a');
    expect(again.state).toBe('succeeded');
    expect((await findVersion(db(), 'twin-a', 2))?.checksum).toBe(first?.checksum);
  });
});
