import { createDb, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { findVersion } from '../src/db/versions.ts';
import { driftFigures } from '../src/drift/figures.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { printTable, seconds, withScratchDatabase } from './scratch.ts';

const KEYS = 1_000_000;

/**
 * The drift figures between two versions of 1,000,000 keys each. (The peak RSS of the process
 * computing them, issue 5's second figure, needs that process to be a fresh one: to come.)
 */
export async function benchDrift(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async (url) => {
    const db = createDb(url, { max: 6 });
    const pool = createPool(url, { max: 2 });
    try {
      await migrateToLatest(db);
      await upsertModel(
        db,
        await validateSpec(db, { name: 'drift', estimator: 'external', drift: { maxRemovedShare: 1 } }),
      );
      for (const shift of [0, 0.03]) {
        const lines = ['key,value'];
        for (let i = 0; i < KEYS; i += 1)
          lines.push(`key-${i + Math.round(shift * 100_000)},${100 + 20 * Math.sin(i) + shift * 100}`);
        await importCsv({ db, pool }, 'drift', readableOf(`${lines.join('\n')}\n`), 'bench');
      }
      const [a, b] = await Promise.all([findVersion(db, 'drift', 1), findVersion(db, 'drift', 2)]);
      const started = performance.now();
      const figures = await driftFigures(db, a?.id ?? '', b?.id ?? '', 0.1);
      rows.push({
        case: '1,000,000 keys against 1,000,000',
        seconds: seconds(performance.now() - started),
        psi: Number(figures.psi?.toFixed(4)),
        ks: Number(figures.ksStatistic?.toFixed(4)),
      });
    } finally {
      await db.destroy();
      await pool.end();
    }
  });
  printTable(rows);
}
