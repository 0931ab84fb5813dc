import { sql } from 'kysely';
import type { Db } from './database.ts';

/** A column, its type, and its collation (null for types without one). */
export type ColumnInfo = { name: string; type: string; collation: string | null };
export type TableInfo = { qualifiedName: string; columns: Map<string, ColumnInfo> };

/** A table's or view's columns with their types, or undefined when no such relation exists. */
export async function describeTable(db: Db, table: string): Promise<TableInfo | undefined> {
  const found = await sql<{ oid: number | null; qualified: string | null }>`
    SELECT to_regclass(${table})::oid::int AS oid, to_regclass(${table})::text AS qualified`.execute(db);
  const row = found.rows[0];
  if (row?.oid == null || row.qualified == null) return undefined;
  const columns = await sql<ColumnInfo>`
    SELECT attname AS name, format_type(atttypid, atttypmod) AS type,
           (SELECT collname::text FROM pg_collation WHERE oid = attcollation) AS collation
    FROM pg_attribute
    WHERE attrelid = ${row.oid}::oid AND attnum > 0 AND NOT attisdropped
    ORDER BY attnum`.execute(db);
  return {
    qualifiedName: row.qualified,
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
