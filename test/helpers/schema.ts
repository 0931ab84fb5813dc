import { sql } from 'kysely';
import type { Db } from '../../src/db/database.ts';

/**
 * A stable text dump of the public schema (columns, constraints, indexes, views), compared with
 * a committed file so that any change to the public interface is a conscious one.
 */
export async function dumpSchema(db: Db): Promise<string> {
  const columns = await sql<{ line: string }>`
    SELECT format('column %s.%s %s%s%s%s', c.table_name, c.column_name,
                  CASE WHEN c.data_type = 'ARRAY' THEN c.udt_name ELSE c.data_type END,
                  CASE WHEN c.collation_name IS NOT NULL THEN ' collate ' || c.collation_name ELSE '' END,
                  CASE WHEN c.is_nullable = 'NO' THEN ' not null' ELSE '' END,
                  CASE WHEN c.column_default IS NOT NULL THEN ' default ' || c.column_default
                       WHEN c.is_identity = 'YES' THEN ' identity' ELSE '' END) AS line
    FROM information_schema.columns c
    WHERE c.table_schema = 'public' AND c.table_name NOT LIKE 'kysely_%'
    ORDER BY c.table_name, c.ordinal_position`.execute(db);
  const constraints = await sql<{ line: string }>`
    SELECT format('constraint %s.%s %s', cl.relname, co.conname, pg_get_constraintdef(co.oid)) AS line
    FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
    JOIN pg_namespace n ON n.oid = cl.relnamespace
    WHERE n.nspname = 'public' AND cl.relname NOT LIKE 'kysely_%'
    ORDER BY cl.relname, co.conname`.execute(db);
  const indexes = await sql<{ line: string }>`
    SELECT format('index %s', indexdef) AS line FROM pg_indexes
    WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely_%'
    ORDER BY tablename, indexname`.execute(db);
  const views = await sql<{ line: string }>`
    SELECT format('view %s: %s', viewname, regexp_replace(definition, '[[:space:]]+', ' ', 'g')) AS line
    FROM pg_views WHERE schemaname = 'public' ORDER BY viewname`.execute(db);
  const partitioned = await sql<{ line: string }>`
    SELECT format('partitioned %s %s', c.relname, pg_get_partkeydef(c.oid)) AS line
    FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
    ORDER BY c.relname`.execute(db);
  const triggers = await sql<{ line: string }>`
    SELECT format('trigger %s on %s: %s', t.tgname, c.relname, pg_get_triggerdef(t.oid)) AS line
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND n.nspname = 'public' ORDER BY c.relname, t.tgname`.execute(db);
  return [
    ...columns.rows,
    ...constraints.rows,
    ...indexes.rows,
    ...views.rows,
    ...partitioned.rows,
    ...triggers.rows,
  ]
    .map((row) => row.line)
    .join('\n')
    .concat('\n');
}
