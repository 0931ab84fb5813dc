import { sql } from 'kysely';
import type { Db } from './database.ts';

export type ServedDay = {
  /** the UTC day, YYYY-MM-DD */
  day: string;
  /** the version live at the day's end (by the publication history), or null before the first publish */
  version: number | null;
  mae: number | null;
  naiveMae: number | null;
  rows: number;
};

/**
 * For each UTC day from `from` to `to` (inclusive, YYYY-MM-DD), the version that was live at the
 * day's last millisecond and the realized figures stored for it (`almanac evaluate` measures
 * them): what the model's clients were actually given, and how good it turned out to be.
 */
export async function servedAccuracyByDay(
  db: Db,
  model: string,
  from: string,
  to: string,
  /** days after it have not been served yet, whatever is live now */
  today: string,
): Promise<ServedDay[]> {
  const { rows } = await sql<{
    day: string;
    version: number | null;
    mae: number | null;
    naive_mae: number | null;
    rows: string | null;
  }>`
    SELECT to_char(d.day, 'YYYY-MM-DD') AS day, v.number AS version,
           (v.realized->>'mae')::float8 AS mae, (v.realized->>'naiveMae')::float8 AS naive_mae,
           (v.realized->>'rows')::bigint AS rows
    FROM generate_series(${from}::date, ${to}::date, interval '1 day') AS d(day)
    LEFT JOIN LATERAL (
      SELECT p.version_id FROM publications p
      WHERE p.model = ${model}
        AND p.valid_from <= (d.day + interval '1 day' - interval '1 millisecond') AT TIME ZONE 'UTC'
        AND (p.valid_to IS NULL OR p.valid_to > (d.day + interval '1 day' - interval '1 millisecond') AT TIME ZONE 'UTC')
      ORDER BY p.valid_from DESC
      LIMIT 1
    ) live ON d.day <= ${today}::date
    LEFT JOIN versions v ON v.id = live.version_id
    ORDER BY d.day`.execute(db);
  return rows.map((row) => ({
    day: row.day,
    version: row.version,
    mae: row.mae,
    naiveMae: row.naive_mae,
    rows: Number(row.rows ?? 0),
  }));
}
