import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { useDb, useFileRedisPrefix, useTestDatabase } from './helpers/hooks.ts';

const database = useTestDatabase('demo', { migrate: false });
const db = useDb(database);
useFileRedisPrefix();

describe('almanac demo', () => {
  it('runs end to end on an empty database, and a second run reuses the data', async () => {
    const first = await runCli('demo');
    expect(first.stderr).not.toMatch(/failed|error/i);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('2/5 seeding the demo market (5000 tickers × 120 days)');
    expect(first.stdout).toContain('published version 2 of nasdaq-close (5000 keys)');
    expect(first.stdout).toContain('published version 2 of nasdaq-naive (5000 keys)');

    const second = await runCli('demo');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('2/5 reusing the demo market (5000 tickers × 121 days, seed 42)');
    expect(second.stdout).toContain('published version 4 of nasdaq-close (5000 keys)');

    // the ridge model beats the naive forecast on its holdout
    const { rows } = await sql<{ mae: number; naive: number }>`
      SELECT (metrics->'holdout'->>'mae')::float8 AS mae, (metrics->'naive'->>'mae')::float8 AS naive
      FROM versions WHERE model = 'nasdaq-close' AND number = 4`.execute(db());
    expect(rows[0]?.mae).toBeLessThan(rows[0]?.naive ?? 0);
  }, 120_000);
});
