import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { QUANTILES } from '../src/db/drift-stats.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { upsertModel } from '../src/db/models.ts';
import { findVersion } from '../src/db/versions.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { validateSpec } from '../src/model/validate-spec.ts';
import { printTable, seconds, withScratchDatabase } from './scratch.ts';

const KEYS = 1_000_000;
const TARGET_SECONDS = 3;
const TARGET_PEAK_RSS_MB = 200;
const PROCESS = fileURLToPath(new URL('./drift-process.ts', import.meta.url));

/**
 * The drift figures and the top movers between two versions of 1,000,000 keys each, computed by a
 * fresh process (bench/drift-process.ts), which reports their time and its own peak RSS.
 */
export async function benchDrift(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  await withScratchDatabase(async (runtime, url) => {
    const { db } = runtime;
    {
      await migrateToLatest(db);
      await upsertModel(
        db,
        await validateSpec(db, { name: 'drift', estimator: 'external', drift: { maxRemovedShare: 1 } }),
      );
      for (const shift of [0, 0.03]) {
        const lines = ['key,value'];
        for (let i = 0; i < KEYS; i += 1)
          lines.push(`key-${i + Math.round(shift * 100_000)},${100 + 20 * Math.sin(i) + shift * 100}`);
        await importCsv(runtime, 'drift', readableOf(`${lines.join('\n')}\n`), 'bench');
      }
      const [a, b] = await Promise.all([findVersion(db, 'drift', 1), findVersion(db, 'drift', 2)]);
      const { stdout } = await promisify(execFile)(process.execPath, [
        PROCESS,
        url,
        a?.id ?? '',
        b?.id ?? '',
      ]);
      const result = JSON.parse(stdout) as {
        ms: number;
        peakRssMb: number;
        psi: number;
        ks: number;
        msInTransaction: number;
      };
      // The issue's yardstick, in the same run: Postgres' seven quantiles of one version's values.
      const quantilesStarted = performance.now();
      await sql`SELECT percentile_cont(${sql.val(QUANTILES)}::float8[]) WITHIN GROUP (ORDER BY value)
                FROM estimates WHERE version_id = ${a?.id ?? ''}`.execute(db);
      const quantilesMs = performance.now() - quantilesStarted;
      rows.push({
        case: 'seven quantiles of 1,000,000 values (percentile_cont)',
        seconds: seconds(quantilesMs),
      });
      rows.push({
        case: 'full report, 1,000,000 keys against 1,000,000',
        seconds: seconds(result.ms),
        'target s': `< ${TARGET_SECONDS}`,
        'peak RSS MB': result.peakRssMb,
        'target MB': `< ${TARGET_PEAK_RSS_MB}`,
        psi: Number(result.psi.toFixed(4)),
        ks: Number(result.ks.toFixed(4)),
        'x quantiles': Number((result.ms / quantilesMs).toFixed(1)),
      });
      rows.push({
        case: 'the same, inside a transaction (an import gate: one query after another)',
        seconds: seconds(result.msInTransaction),
      });
    }
  });
  printTable(rows);
}
