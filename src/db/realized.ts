import { sql } from 'kysely';
import type { Db } from './database.ts';
import { isoUtc } from './estimates.ts';
import type { RealizedFigures } from './json-columns.ts';
import { asPruned, partitionName } from './partitions.ts';
import { finite, quote, type SourceRef } from './source.ts';

/**
 * A version's key (text) as the source's key column holds it: its type and collation, so that the
 * comparison is the column's own and its index answers it.
 */
export function sourceKeyOf(expression: string, source: Pick<SourceRef, 'keyType' | 'keyCollation'>): string {
  const collate = source.keyCollation === null ? '' : ` COLLATE ${quote(source.keyCollation)}`;
  return `(${expression}::${source.keyType}${collate})`;
}

/**
 * Joins a version's estimates with the source rows they scored, on (key, as_of), keeping the
 * rows whose target is now known. One pass in Postgres; nothing is loaded into Node.
 */
export async function realizedAccuracy(
  db: Db,
  versionId: string,
  source: SourceRef,
  naiveFeature: string | undefined,
): Promise<RealizedFigures> {
  const target = `s.${quote(source.target)}`;
  const naive = naiveFeature === undefined ? 'NULL::float8' : `s.${quote(naiveFeature)}::float8`;
  const { rows } = await sql<{
    n: string;
    mae: number | null;
    rmse: number | null;
    bias: number | null;
    covered: number | null;
    interval_rows: string;
    naive_mae: number | null;
    first: string | null;
    last: string | null;
  }>`
    WITH span AS MATERIALIZED (SELECT min(as_of) AS first, max(as_of) AS last FROM ${sql.table(partitionName(versionId))})
    SELECT count(*) AS n, avg(abs(y - value)) AS mae, sqrt(avg((y - value) * (y - value))) AS rmse,
           avg(y - value) AS bias,
           avg((y BETWEEN lower AND upper)::int::float8) FILTER (WHERE lower IS NOT NULL AND upper IS NOT NULL) AS covered,
           count(*) FILTER (WHERE lower IS NOT NULL AND upper IS NOT NULL) AS interval_rows,
           avg(abs(y - naive)) AS naive_mae,
           ${sql.raw(isoUtc('min(as_of)'))} AS first, ${sql.raw(isoUtc('max(as_of)'))} AS last
    FROM (
      SELECT ${sql.raw(target)}::float8 AS y, e.value, e.lower, e.upper, e.as_of, ${sql.raw(naive)} AS naive
      FROM ${sql.table(partitionName(versionId))} e
      -- as_of is the source time read as text into a timestamptz: in our sessions (UTC) casting it
      -- back to the time column's type gives exactly the row that was scored, and both sides cast
      -- to the column's own type and collation, the source's (key, time) index answers the join
      JOIN ${sql.raw(source.table)} s
        ON s.${sql.raw(quote(source.key))} = ${sql.raw(sourceKeyOf('e.key', source))}
       AND s.${sql.raw(quote(source.time))} = e.as_of::${sql.raw(source.timeType)}
      -- only the span of times the version scored: the source is not read beyond it
      WHERE s.${sql.raw(quote(source.time))} BETWEEN (SELECT first FROM span)::${sql.raw(source.timeType)}
                                                 AND (SELECT last FROM span)::${sql.raw(source.timeType)}
        AND ${sql.raw(finite(target))}
        ${sql.raw(naiveFeature === undefined ? '' : `AND ${finite(naive)}`)}
    ) measured`
    .execute(db)
    .catch((error: unknown) => {
      throw asPruned(error);
    });
  const row = rows[0];
  const mae = row?.mae ?? null;
  const naiveMae = naiveFeature === undefined ? null : (row?.naive_mae ?? null);
  return {
    rows: Number(row?.n ?? 0),
    mae,
    rmse: row?.rmse ?? null,
    bias: row?.bias ?? null,
    intervalCoverage: row?.covered ?? null,
    intervalRows: Number(row?.interval_rows ?? 0),
    naiveFeature: naiveFeature ?? null,
    naiveMae,
    maeRatioToNaive: mae !== null && naiveMae ? mae / naiveMae : null,
    asOf: { from: row?.first ?? null, to: row?.last ?? null },
  };
}
