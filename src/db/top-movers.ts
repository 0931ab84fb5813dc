import { sql } from 'kysely';
import type { Db } from './database.ts';
import { partitionName } from './partitions.ts';

export type Mover = { key: string; a: number; b: number; change: number };

/** The keys in both versions that moved most up and most down (b − a), ties in key order. */
export async function topMovers(
  db: Db,
  a: string,
  b: string,
  limit: number,
): Promise<{ up: Mover[]; down: Mover[] }> {
  const { rows } = await sql<Mover & { side: string }>`
    WITH j AS MATERIALIZED (
      SELECT a.key, a.value AS a, b.value AS b, b.value - a.value AS change
      FROM ${sql.table(partitionName(a))} a JOIN ${sql.table(partitionName(b))} b ON b.key = a.key
    )
    (SELECT 'up' AS side, * FROM j WHERE change > 0 ORDER BY change DESC, key LIMIT ${limit})
    UNION ALL
    (SELECT 'down' AS side, * FROM j WHERE change < 0 ORDER BY change, key LIMIT ${limit})`.execute(db);
  const pick = (side: string) =>
    rows.filter((row) => row.side === side).map(({ side: _, ...mover }) => mover);
  return { up: pick('up'), down: pick('down') };
}
