import { sql } from 'kysely';
import type { Db } from './database.ts';

/** A column, its type, and its collation (null for types without one). */
export type ColumnInfo = { name: string; type: string; collation: string | null };
export type TableInfo = {
  oid: number;
  qualifiedName: string;
  columns: Map<string, ColumnInfo>;
  /** another relation the name also reads as, folded to lower case (`demo.prices` beside `demo."Prices"`) */
  alsoNames?: string;
};

/**
 * A table's or view's columns with their types, or undefined when no such relation exists.
 * `table` is `name` or `schema.name` of plain identifiers (src/model/spec.ts), taken as written
 * first, as columns are (`shop.DailySales` is the table created as `shop."DailySales"`), and then
 * folded to lower case as SQL folds an unquoted name (`Shop.Daily_Sales` is `shop.daily_sales`).
 */
export async function describeTable(db: Db, table: string): Promise<TableInfo | undefined> {
  const exact = table
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
  const found = await sql<{ oid: number | null; qualified: string | null; folded: string | null }>`
    SELECT coalesce(e, f)::oid AS oid, coalesce(e, f)::text AS qualified,
           CASE WHEN e <> f THEN f::text END AS folded
    FROM (SELECT to_regclass(${exact}) AS e, to_regclass(${table}) AS f) found`.execute(db);
  const row = found.rows[0];
  if (row?.oid == null || row.qualified == null) return undefined;
  const columns = await sql<ColumnInfo>`
    SELECT attname AS name, format_type(atttypid, atttypmod) AS type,
           (SELECT collname::text FROM pg_collation WHERE oid = attcollation) AS collation
    FROM pg_attribute
    WHERE attrelid = ${row.oid}::oid AND attnum > 0 AND NOT attisdropped
    ORDER BY attnum`.execute(db);
  return {
    oid: row.oid,
    qualifiedName: row.qualified,
    ...(row.folded === null ? {} : { alsoNames: row.folded }),
    columns: new Map(columns.rows.map((column) => [column.name, column])),
  };
}

const numericTypes = /^(smallint|integer|bigint|real|double precision|numeric(\(.*\))?)$/;
const timeTypes = /^(date|timestamp(\(\d\))? with(out)? time zone)$/;

export function isNumericType(type: string): boolean {
  return numericTypes.test(type);
}

export function isTimeType(type: string): boolean {
  return timeTypes.test(type);
}
