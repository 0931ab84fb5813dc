import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { startCli } from './helpers/cli.ts';
import { useDb, useFileRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('demo', { migrate: false });
const db = useDb(database);
useFileRedisPrefix();
process.env.PORT = '0';

/** Runs the demo until it serves, checks its curl lines against the API, then stops it. */
async function demo(): Promise<string> {
  const cli = startCli(['demo']);
  await waitFor(
    async () => (cli.output().includes('Press Ctrl-C') ? true : undefined),
    90_000,
    'the demo to serve',
    200,
  );
  const output = cli.output();
  const curls = output.split('\n').filter((line) => line.trim().startsWith('curl '));
  expect(curls).toHaveLength(4);
  const key = /export ALMANAC_KEY=(\S+)/.exec(output)?.[1] ?? '';
  const [single, batch, versions, diff] = curls.map((line) => /(http:\/\/[^\s"']+)/.exec(line)?.[1] ?? '');
  const auth = { authorization: `Bearer ${key}` };
  const one = await fetch(single ?? '', { headers: auth });
  expect(one.status).toBe(200);
  const many = await fetch(batch ?? '', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: /-d '([^']+)'/.exec(curls[1] ?? '')?.[1] ?? '',
  });
  expect(((await many.json()) as { missing: string[] }).missing).toEqual(['NOPE']);
  expect((await fetch(versions ?? '', { headers: auth })).status).toBe(200);
  const changes = await fetch(diff ?? '', { headers: auth });
  expect((await changes.text()).split('\n')[0]).toBe('key,a,b,change,relative_change,status');
  cli.stop();
  const run = await cli.done;
  expect(run.stderr).not.toMatch(/failed|error/i);
  expect(run.code).toBe(0);
  return run.stdout;
}

describe('almanac demo', () => {
  it('runs end to end on an empty database, serves until stopped, and a second run reuses the data', async () => {
    const first = await demo();
    expect(first).toContain('2/6 seeding the demo market (5000 tickers × 120 days)');
    expect(first).toContain('published version 2 of nasdaq-close (5000 keys)');
    expect(first).toContain('published version 2 of nasdaq-naive (5000 keys)');
    expect(first).toContain('stop: stopping the API, the scheduler and the worker');
    // ridge's realized MAE beats naive's on the demo market's actuals, and naive's own is naive's
    const realized = (model: string) => {
      const found = new RegExp(
        `${model} v1 against the 5000 actuals that arrived: MAE ([\\d.]+), naive's ([\\d.]+)`,
      ).exec(first);
      return { mae: Number(found?.[1]), naive: Number(found?.[2]) };
    };
    expect(realized('nasdaq-close').mae).toBeLessThan(realized('nasdaq-close').naive);
    expect(realized('nasdaq-naive').mae).toBe(realized('nasdaq-naive').naive);

    const second = await demo();
    expect(second).toContain('2/6 reusing the demo market (5000 tickers × 121 days, seed 42)');
    expect(second).toContain('published version 4 of nasdaq-close (5000 keys)');

    // the ridge model beats the naive forecast on its holdout
    const { rows } = await sql<{ mae: number; naive: number }>`
      SELECT (metrics->'holdout'->>'mae')::float8 AS mae, (metrics->'naive'->>'mae')::float8 AS naive
      FROM versions WHERE model = 'nasdaq-close' AND number = 4`.execute(db());
    expect(rows[0]?.mae).toBeLessThan(rows[0]?.naive ?? 0);
  }, 180_000);
});
