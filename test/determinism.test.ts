import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/db/client.ts';
import { findVersion } from '../src/db/versions.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, demoSpec, type Pipeline, startPipeline } from './helpers/pipeline.ts';

const { database, db, prefix } = useTestSetup('determinism', { market: { keys: 2000, days: 40, seed: 9 } });
const MODELS = ['twin-a', 'twin-b', 'twin-c'];

/**
 * Our connections run without parallel workers unless their URL's options allow them
 * (src/db/client.ts); this file's allow them, so that only inStableOrder keeps training serial.
 */
const withOptions = (options: string) => `${database.url}?options=${encodeURIComponent(options)}`;
const parallelUrl = () => withOptions('-c max_parallel_workers_per_gather=4');
let pipeline: Pipeline | undefined;

beforeAll(async () => {
  // Make Postgres split every scan among parallel workers, whose partial sums meet in whatever
  // order the workers finish: the sums of a run then depend on timing, unless training keeps
  // them in one order.
  await sql`ALTER DATABASE ${sql.id(database.name)} SET parallel_setup_cost = 0`.execute(db());
  await sql`ALTER DATABASE ${sql.id(database.name)} SET parallel_tuple_cost = 0`.execute(db());
  await sql`ALTER DATABASE ${sql.id(database.name)} SET min_parallel_table_scan_size = 0`.execute(db());
  for (const name of MODELS) await applySpec(db(), demoSpec({ name, trainWindowDays: 30, holdoutDays: 5 }));
  pipeline = await startPipeline(parallelUrl(), prefix.current);
});

afterAll(async () => {
  await pipeline?.close();
});

/** A setting as a connection to `url` made by our client sees it, and the plan of a scan of the source. */
async function sessionOf(url: string): Promise<{ workers: string; jit: string; zone: string; plan: string }> {
  const client = createClient(url, 'almanac-test-settings');
  await client.connect();
  try {
    const show = async (name: string) =>
      String((await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name]);
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      'EXPLAIN SELECT sum(close) FROM demo.daily_prices',
    );
    return {
      workers: await show('max_parallel_workers_per_gather'),
      jit: await show('jit'),
      zone: await show('TimeZone'),
      plan: rows.map((row) => row['QUERY PLAN']).join('\n'),
    };
  } finally {
    await client.end();
  }
}

describe('our connections’ settings', () => {
  it('run without JIT or parallel workers in UTC, and a URL’s options may change all but the zone', async () => {
    expect(await sessionOf(database.url)).toMatchObject({ workers: '0', jit: 'off', zone: 'UTC' });
    expect((await sessionOf(database.url)).plan).not.toContain('Gather');
    const overridden = await sessionOf(
      withOptions('-c jit=on -c max_parallel_workers_per_gather=4 -c TimeZone=America/New_York'),
    );
    expect(overridden).toMatchObject({ workers: '4', jit: 'on', zone: 'UTC' });
    // this file's pipeline can split a scan among workers: what the test below guards against
    expect((await sessionOf(parallelUrl())).plan).toContain('Gather');
  });
});

describe('the same data gives the same numbers', () => {
  it('refreshes of identical specs over identical data give bit-identical estimates and checksums', async () => {
    const runs = await Promise.all(MODELS.map((model) => running().refresh(model)));
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
    const again = await running().refresh('twin-a');
    expect(again.state).toBe('succeeded');
    expect((await findVersion(db(), 'twin-a', 2))?.checksum).toBe(first?.checksum);
  });
});

function running(): Pipeline {
  if (pipeline === undefined) throw new Error('the pipeline did not start');
  return pipeline;
}
