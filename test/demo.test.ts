import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { startCli } from './helpers/cli.ts';
import { useConnections, useFileRedisPrefix, useTestDatabase } from './helpers/hooks.ts';
import { freePort } from './helpers/services.ts';
import { waitFor } from './helpers/worker-process.ts';

const database = useTestDatabase('demo', { migrate: false });
const { db } = useConnections(database);
useFileRedisPrefix();
// a port of its own, free now: the demo names its dashboard before it listens
process.env.PORT = String(await freePort());

/**
 * Runs the demo until it serves, checks that it serves 127.0.0.1 only, that the page it names
 * exists and that its curl lines answer (with `key`, or the key it prints), then stops it.
 */
async function demo(args: string[] = [], key?: string): Promise<{ stdout: string; key: string }> {
  const cli = startCli(['demo', ...args]);
  await waitFor(
    async () => (cli.output().includes('Press Ctrl-C') ? true : undefined),
    90_000,
    'the demo to serve',
    200,
  );
  const output = cli.output();
  // the dashboard's URL is the first line and the last
  const lines = output.trimEnd().split('\n');
  const dashboard = /(http:\/\/127\.0\.0\.1:\d+\/)$/.exec(lines.at(-1) ?? '')?.[1] ?? '';
  expect(dashboard).not.toBe('');
  expect(lines[0]).toBe(`Almanac's dashboard will be at ${dashboard}`);
  const home = await fetch(dashboard);
  expect(home.status).toBe(200);
  expect(await home.text()).toMatch(/<title>(Models|Sign in) · Almanac<\/title>/);
  const page = /(http:\/\/\S+\/docs)/.exec(output)?.[1] ?? '';
  expect(page).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/docs$/);
  expect((await fetch(page)).status).toBe(200);
  const curls = output.split('\n').filter((line) => line.trim().startsWith('curl '));
  expect(curls).toHaveLength(4);
  const shown = /export ALMANAC_KEY=(\S+)/.exec(output)?.[1];
  const used = shown ?? key ?? '';
  const [single, batch, versions, diff] = curls.map((line) => /(http:\/\/[^\s"']+)/.exec(line)?.[1] ?? '');
  const auth = { authorization: `Bearer ${used}` };
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
  return { stdout: run.stdout, key: used };
}

const versionsOf = async (model: string) =>
  (
    await sql<{ number: number; state: string }>`
      SELECT number, state FROM versions WHERE model = ${model} ORDER BY number`.execute(db())
  ).rows.map((v) => `v${v.number}:${v.state}`);
const marketDays = async () =>
  Number(
    (await sql<{ days: string }>`SELECT count(DISTINCT day) AS days FROM demo.daily_prices`.execute(db()))
      .rows[0]?.days,
  );

describe('almanac demo', () => {
  it('runs end to end on an empty database; a second run serves it as it is; --fresh starts over', async () => {
    const first = await demo();
    expect(first.stdout).toContain('2/7 seeding the demo market (5000 tickers × 120 days)');
    expect(first.stdout).toContain('published version 2 of nasdaq-close (5000 keys)');
    expect(first.stdout).toContain('published version 2 of nasdaq-naive (5000 keys)');
    expect(first.stdout).toContain('stopping the API, the scheduler and the worker');
    // the shocked day: v3 of nasdaq-close waits for approval, and v2 still serves
    expect(first.stdout).toContain('v3 of nasdaq-close waits for approval');
    expect(await versionsOf('nasdaq-close')).toEqual(['v1:superseded', 'v2:published', 'v3:held']);
    expect(await versionsOf('nasdaq-naive')).toEqual(['v1:superseded', 'v2:published']);
    // ridge's realized MAE beats naive's on the demo market's actuals, and naive's own is naive's
    const realized = (model: string) => {
      const found = new RegExp(
        `${model} v1 against the 5000 actuals that arrived: MAE ([\\d.]+), naive's ([\\d.]+)`,
      ).exec(first.stdout);
      return { mae: Number(found?.[1]), naive: Number(found?.[2]) };
    };
    expect(realized('nasdaq-close').mae).toBeLessThan(realized('nasdaq-close').naive);
    expect(realized('nasdaq-naive').mae).toBe(realized('nasdaq-naive').naive);
    // the ridge model beats the naive forecast on its holdout
    const { rows } = await sql<{ mae: number; naive: number }>`
      SELECT (metrics->'holdout'->>'mae')::float8 AS mae, (metrics->'naive'->>'mae')::float8 AS naive
      FROM versions WHERE model = 'nasdaq-close' AND number = 2`.execute(db());
    expect(rows[0]?.mae).toBeLessThan(rows[0]?.naive ?? 0);

    // a second run changes nothing: no new day, no new version, and the key the user copied still works
    const second = await demo([], first.key);
    expect(second.stdout).toContain('were done by an earlier run');
    expect(second.stdout).not.toContain('export ALMANAC_KEY=');
    expect(second.stdout).toContain('`npx almanac demo --fresh` starts it over');
    expect(await versionsOf('nasdaq-close')).toEqual(['v1:superseded', 'v2:published', 'v3:held']);
    expect(await marketDays()).toBe(122);

    // --fresh: the demo's models, key and market go, and the story runs again
    const fresh = await demo(['--fresh']);
    expect(fresh.stdout).toContain('2/7 seeding the demo market (5000 tickers × 120 days)');
    expect(fresh.key).not.toBe(first.key);
    expect(await versionsOf('nasdaq-close')).toEqual(['v1:superseded', 'v2:published', 'v3:held']);
    expect(await marketDays()).toBe(122);
  }, 240_000);
});
