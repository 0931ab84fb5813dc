import { sql } from 'kysely';
import type { Db } from './database.ts';
import { partitionName } from './partitions.ts';

export type Coverage = { both: number; removed: number; added: number };

/** Keys in both versions, only in the baseline (removed) and only in the candidate (added). */
export async function versionCoverage(db: Db, baselineId: string, candidateId: string): Promise<Coverage> {
  const { rows } = await sql<{ both: string; removed: string; added: string }>`
    SELECT count(*) FILTER (WHERE a.key IS NOT NULL AND b.key IS NOT NULL) AS both,
           count(*) FILTER (WHERE b.key IS NULL) AS removed,
           count(*) FILTER (WHERE a.key IS NULL) AS added
    FROM ${sql.table(partitionName(baselineId))} a
    FULL JOIN ${sql.table(partitionName(candidateId))} b ON a.key = b.key`.execute(db);
  const row = rows[0];
  return { both: Number(row?.both ?? 0), removed: Number(row?.removed ?? 0), added: Number(row?.added ?? 0) };
}
