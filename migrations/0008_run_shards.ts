import { type Kysely, sql } from 'kysely';

// Sharded scoring: a run whose spec asks for `shards` scores its keys in child jobs, one per
// shard, each taken by any worker. A row per (run, shard) says how far each got, which worker
// (host:pid) ran it and what it wrote; the run's parent job decides from these rows whether every
// shard succeeded before it indexes, validates and publishes. The rows go with their run.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE run_shards (
      run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      index integer NOT NULL CHECK (index >= 0 AND index < 64),
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
      rows bigint NOT NULL DEFAULT 0,
      skipped_rows bigint NOT NULL DEFAULT 0,
      skipped_keys bigint NOT NULL DEFAULT 0,
      worker text,
      attempts integer NOT NULL DEFAULT 0,
      error text,
      started_at timestamptz,
      finished_at timestamptz,
      PRIMARY KEY (run_id, index)
    )`.execute(db);
  // Direct SQL readers may read it beside `runs` (migrations/0006_direct_readers.ts).
  await sql`
    DO $$
    BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'almanac_reader') THEN
        GRANT SELECT ON run_shards TO almanac_reader;
      END IF;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS run_shards`.execute(db);
}
