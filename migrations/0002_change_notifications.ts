import { type Kysely, sql } from 'kysely';

// Every change to a model, a version or an API key is announced on one channel, from the database
// itself, so that no writer can forget to: API processes LISTEN and refresh what they hold in
// memory. Notifications are delivered at commit, so a listener never sees a change that rolled back.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION almanac_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    BEGIN
      PERFORM pg_notify('almanac_changes', json_build_object(
        'table', TG_TABLE_NAME,
        'model', CASE TG_TABLE_NAME WHEN 'models' THEN changed->>'name' WHEN 'versions' THEN changed->>'model' END
      )::text);
      RETURN NULL;
    END $$`.execute(db);
  for (const table of ['models', 'versions', 'api_keys']) {
    await sql`
      CREATE TRIGGER ${sql.raw(`${table}_notify_change`)}
      AFTER INSERT OR UPDATE OR DELETE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION almanac_notify_change()`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['models', 'versions', 'api_keys']) {
    await sql`DROP TRIGGER IF EXISTS ${sql.raw(`${table}_notify_change`)} ON ${sql.table(table)}`.execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS almanac_notify_change()`.execute(db);
}
