import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { importCsv } from '../src/imports/import-csv.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { printTable, seconds, withScratchDatabase } from './scratch.ts';

/** `almanac import` of a CSV of 1,000,000 rows (key,value,lower,upper): parse, stage, check, publish. */
export async function benchImport(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  const folder = await mkdtemp(path.join(tmpdir(), 'almanac-bench-'));
  try {
    const file = path.join(folder, 'estimates.csv');
    const lines = ['key,value,lower,upper'];
    for (let i = 0; i < 1_000_000; i += 1) {
      const value = 100 + Math.sin(i) * 50;
      lines.push(`key-${i},${value},${value - 2},${value + 2}`);
    }
    await writeFile(file, `${lines.join('\n')}\n`);
    await withScratchDatabase(async (runtime) => {
      const { db } = runtime;
      await migrateToLatest(db);
      await upsertModel(db, await validateSpec(db, { name: 'imported', estimator: 'external' }));
      for (const attempt of [1, 2]) {
        const started = performance.now();
        const outcome = await importCsv(runtime, 'imported', createReadStream(file), 'bench');
        const ms = performance.now() - started;
        rows.push({
          import: attempt,
          rows: outcome.version.rowCount ?? 0,
          state: outcome.state,
          seconds: seconds(ms),
          'rows/s': Math.round(1_000_000 / (ms / 1000)),
        });
      }
    });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  printTable(rows);
}
