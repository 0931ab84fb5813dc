import { type Kysely, sql } from 'kysely';

// Analysts read Postgres directly. `estimates` also holds the rows of a version still being
// scored or validated (from its attach until its publish), so readers get views that show only
// servable versions, and a role that may read those views and the catalog tables, nothing else.
// Roles belong to the cluster, not the database: the role is created once, if missing (and left
// alone when the migrating user may not create roles); the grants are per database.

const CATALOG = ['models', 'versions', 'runs', 'publications', 'pins'];
const VIEWS = ['latest_estimates', 'served_estimates'];

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE VIEW served_estimates AS
    SELECT v.model, v.number AS version, v.state, e.key, e.value, e.lower, e.upper, e.as_of
    FROM versions v
    JOIN estimates e ON e.version_id = v.id
    WHERE v.state IN ('held', 'published', 'superseded')`.execute(db);
  await sql`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'almanac_reader') THEN
        CREATE ROLE almanac_reader NOLOGIN;
      END IF;
    EXCEPTION
      -- another database's migration created it a moment ago
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE NOTICE 'almanac_reader was not created: this user may not create roles';
    END
    $$`.execute(db);
  await sql`
    DO $$
    BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'almanac_reader') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO almanac_reader', current_database());
        GRANT USAGE ON SCHEMA public TO almanac_reader;
        GRANT SELECT ON ${sql.raw([...VIEWS, ...CATALOG].join(', '))} TO almanac_reader;
      END IF;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $$
    BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'almanac_reader') THEN
        REVOKE ALL ON ${sql.raw([...VIEWS, ...CATALOG].join(', '))} FROM almanac_reader;
        REVOKE USAGE ON SCHEMA public FROM almanac_reader;
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM almanac_reader', current_database());
      END IF;
    END
    $$`.execute(db);
  await sql`DROP VIEW IF EXISTS served_estimates`.execute(db);
}
