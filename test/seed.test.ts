import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { addDays, tickerName } from '../seeds/market.ts';
import { runCli } from './helpers/cli.ts';
import { copyChecksum } from './helpers/dump.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';

const database = useTestDatabase('seed', { migrate: false });
const { db } = useConnections(database);
const everything = 'SELECT * FROM demo.daily_prices ORDER BY ticker, day';
const checksum = () => copyChecksum(database.url, everything);

async function seed(...args: string[]): Promise<void> {
  const run = await runCli('seed', ...args);
  expect(run.stderr).not.toMatch(/error/i);
  expect(run.code).toBe(0);
}

describe('almanac seed', () => {
  it('gives byte-identical data for the same arguments (5,000 keys × 120 days)', async () => {
    await seed('--keys', '5000', '--days', '120');
    const first = await checksum();
    await seed('--keys', '5000', '--days', '120');
    expect(await checksum()).toBe(first);
    const { rows } = await sql<{ n: string; tickers: string; first: string; last: string }>`
      SELECT count(*) AS n, count(DISTINCT ticker) AS tickers, min(day)::text AS first, max(day)::text AS last
      FROM demo.daily_prices`.execute(db());
    expect(rows[0]).toEqual({ n: '600000', tickers: '5000', first: '2026-01-01', last: '2026-04-30' });
  });

  it('gives other data for another seed or start, and replaces the table', async () => {
    await seed('--keys', '50', '--days', '30');
    const base = await checksum();
    await seed('--keys', '50', '--days', '30', '--seed', '7');
    expect(await checksum()).not.toBe(base);
    await seed('--keys', '50', '--days', '30', '--start', '2025-06-01');
    const { rows } = await sql<{ n: string; first: string }>`
      SELECT count(*) AS n, min(day)::text AS first FROM demo.daily_prices`.execute(db());
    expect(rows[0]).toEqual({ n: '1500', first: '2025-06-01' });
  });

  it('knows tomorrow only up to the newest day: close_next is null there alone', async () => {
    await seed('--keys', '40', '--days', '25');
    const { rows } = await sql<{ day: string; missing: string }>`
      SELECT day::text, count(*) FILTER (WHERE close_next IS NULL) AS missing
      FROM demo.daily_prices GROUP BY day HAVING count(*) FILTER (WHERE close_next IS NULL) > 0`.execute(
      db(),
    );
    expect(rows).toEqual([{ day: addDays('2026-01-01', 24), missing: '40' }]);
    // close_next is the next day's close of the same ticker
    const { rows: mismatched } = await sql`
      SELECT 1 FROM demo.daily_prices a JOIN demo.daily_prices b ON b.ticker = a.ticker AND b.day = a.day + 1
      WHERE a.close_next IS DISTINCT FROM b.close`.execute(db());
    expect(mismatched).toEqual([]);
  });

  it('--days D then --advance K equals --days D+K, byte for byte', async () => {
    await seed('--keys', '300', '--days', '45', '--seed', '9');
    const whole = await checksum();
    await seed('--keys', '300', '--days', '40', '--seed', '9');
    await seed('--advance', '3');
    await seed('--advance', '2');
    expect(await checksum()).toBe(whole);
  });

  it("--shock shifts the advanced days' prices by the percentage", async () => {
    await seed('--keys', '200', '--days', '30');
    await seed('--advance', '1');
    const plain = await sql<{ close: number }>`
      SELECT avg(close) AS close FROM demo.daily_prices WHERE day = '2026-01-31'`.execute(db());
    await seed('--keys', '200', '--days', '30');
    await seed('--advance', '1', '--shock', '30');
    const shocked = await sql<{ close: number; before: number }>`
      SELECT avg(close) AS close FROM demo.daily_prices WHERE day = '2026-01-31'`.execute(db());
    const ratio = Number(shocked.rows[0]?.close) / Number(plain.rows[0]?.close);
    expect(ratio).toBeGreaterThan(1.29);
    expect(ratio).toBeLessThan(1.31);
    // later advances keep the shocked level: the history is replayed with its shocks
    const before = await checksum();
    await seed('--advance', '1');
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM demo.daily_prices`.execute(db());
    expect(rows[0]?.n).toBe('6400');
    expect(await checksum()).not.toBe(before);
  });

  it('has a learnable signal: least squares on the features beats "tomorrow = today"', async () => {
    await seed('--keys', '2000', '--days', '60');
    // One feature is enough to show the signal: fit tomorrow's move on the gap to ma_20 over
    // a month, then compare mean absolute errors on the following week.
    const { rows } = await sql<{ model: number; naive: number }>`
      WITH fit AS (
        SELECT regr_slope(close_next - close, ma_20 - close) AS slope,
               regr_intercept(close_next - close, ma_20 - close) AS intercept
        FROM demo.daily_prices WHERE day BETWEEN '2026-01-21' AND '2026-02-21'
      )
      SELECT avg(abs(close + intercept + slope * (ma_20 - close) - close_next)) AS model,
             avg(abs(close - close_next)) AS naive
      FROM demo.daily_prices, fit WHERE day BETWEEN '2026-02-22' AND '2026-02-28'`.execute(db());
    const { model, naive } = rows[0] ?? { model: 0, naive: 0 };
    expect(model).toBeLessThan(naive * 0.99);
  });

  it('--drop-keys and --null-share spoil each advanced day, exactly and the same way every time', async () => {
    await seed('--keys', '200', '--days', '30');
    const base = await checksum();
    const run = await runCli('seed', '--advance', '2', '--drop-keys', '20', '--null-share', '30');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      "on each advanced day, 20% of the tickers left out and 30% of each feature's values null",
    );
    const { rows } = await sql<Record<string, string>>`
      SELECT day::text, count(*) AS n, count(*) FILTER (WHERE close IS NULL) AS close,
             count(*) FILTER (WHERE volume IS NULL) AS volume, count(*) FILTER (WHERE ma_5 IS NULL) AS ma_5,
             count(*) FILTER (WHERE ma_20 IS NULL) AS ma_20, count(*) FILTER (WHERE volume_z IS NULL) AS volume_z
      FROM demo.daily_prices WHERE day > '2026-01-30' GROUP BY day ORDER BY day`.execute(db());
    // 40 of the 200 tickers left out, and 30% of the 160 left (48) null in each feature
    for (const row of rows) {
      expect(row).toMatchObject({
        n: '160',
        close: '48',
        volume: '48',
        ma_5: '48',
        ma_20: '48',
        volume_z: '48',
      });
    }
    // each feature nulls rows of its own
    const { rows: together } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM demo.daily_prices WHERE close IS NULL AND ma_5 IS NULL`.execute(db());
    expect(Number(together[0]?.n)).toBeLessThan(96);
    expect(rows.map((row) => row.day)).toEqual(['2026-01-31', '2026-02-01']);
    // a lost row or close is a lost actual the day before
    const { rows: lost } = await sql<{ day: string; missing: string }>`
      SELECT a.day::text, count(*) AS missing FROM demo.daily_prices a
      LEFT JOIN demo.daily_prices b ON b.ticker = a.ticker AND b.day = a.day + 1
      WHERE a.day = '2026-01-30' AND (b.ticker IS NULL OR b.close IS NULL) AND a.close_next IS NULL
      GROUP BY a.day`.execute(db());
    const { rows: unknown } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM demo.daily_prices WHERE day = '2026-01-30' AND close_next IS NULL`.execute(
      db(),
    );
    expect(lost[0]?.missing).toBe(unknown[0]?.n);
    const spoiled = await checksum();
    await seed('--keys', '200', '--days', '30');
    expect(await checksum()).toBe(base);
    await seed('--advance', '2', '--drop-keys', '20', '--null-share', '30');
    expect(await checksum()).toBe(spoiled);
  });

  it('makes unique, ticker-like keys', () => {
    const names = new Set(Array.from({ length: 100_000 }, (_, i) => tickerName(i)));
    expect(names.size).toBe(100_000);
    for (const name of [...names].slice(0, 100)) expect(name).toMatch(/^[A-Z]{5}$/);
  });
});

describe('almanac seed refuses what it cannot do', () => {
  it.each([
    [['--keys', '0'], '--keys: must be a whole number from 1 to 5000000'],
    [['--days', 'ten'], '--days: must be a whole number from 1 to 3650'],
    [['--start', '2026-02-30'], '--start: must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD'],
    [['--start', 'yesterday'], '--start: must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD'],
    [['--start', '2026-1-1'], '--start: must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD'],
    [
      ['--start', '2026-01-01T00:00:00Z'],
      '--start: must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD',
    ],
    [['--start', '9999-12-28'], '--start: must be a real date from 1900-01-01 to 2999-12-31, as YYYY-MM-DD'],
    [['--shock', '30'], '--shock only applies with --advance'],
    [['--drop-keys', '20', '--null-share', '5'], '--drop-keys, --null-share only apply with --advance'],
    [['--advance', '1', '--drop-keys', '101'], '--drop-keys: must be a percentage from 0 to 100'],
    [['--advance', '1', '--null-share', 'half'], '--null-share: must be a percentage from 0 to 100'],
    [['--advance', '1', '--null-share', '-1'], '--null-share: must be a percentage from 0 to 100'],
    [['--advance', '1', '--keys', '10'], '--advance continues the existing market'],
  ])('%j', async (args, message) => {
    const run = await runCli('seed', ...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('cannot advance a market that does not exist', async () => {
    await sql`DROP SCHEMA demo CASCADE`.execute(db());
    const run = await runCli('seed', '--advance', '1');
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n').at(-1)).toBe(
      'there is no demo market to advance yet; create one with `almanac seed`',
    );
  });
});
