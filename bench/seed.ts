import { seedMarket } from '../seeds/load-market.ts';
import { printTable, seconds, withScratchDatabase } from './scratch.ts';

/** The demo market's load rate: rows generated, COPYed and indexed per second. */
export async function benchSeed(): Promise<void> {
  const cases = [
    { keys: 10_000, days: 100 },
    { keys: 1_000_000, days: 3 },
  ];
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async ({ pool }) => {
    for (const { keys, days } of cases) {
      const started = performance.now();
      const result = await seedMarket(pool, { keys, days, seed: 42, start: '2026-01-01' });
      const ms = performance.now() - started;
      rows.push({
        case: `${keys} keys × ${days} days`,
        rows: result.rows,
        seconds: seconds(ms),
        'rows/s': Math.round(result.rows / (ms / 1000)),
      });
    }
  });
  printTable(rows);
}
