import { type Kysely, sql } from 'kysely';

// Frozen in time: this file never imports from src/ and never changes once released.
// The schema is a public interface (analysts read it directly): README.md (Schema) lists its names.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE models (
      name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
      spec jsonb NOT NULL,
      published_version_id bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE versions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      model text NOT NULL REFERENCES models (name) ON UPDATE CASCADE,
      number integer NOT NULL CHECK (number > 0),
      state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'held', 'published', 'superseded', 'rejected', 'failed', 'pruned')),
      row_count bigint CHECK (row_count >= 0),
      checksum text,
      created_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz,
      lineage jsonb NOT NULL DEFAULT '{}'::jsonb,
      metrics jsonb,
      drift jsonb,
      realized jsonb,
      CONSTRAINT versions_model_number_key UNIQUE (model, number),
      CONSTRAINT versions_model_id_key UNIQUE (model, id)
    )`.execute(db);
  // The invariant every reader relies on: at most one published version per model.
  await sql`
    CREATE UNIQUE INDEX versions_one_published_per_model ON versions (model) WHERE state = 'published'
  `.execute(db);
  await sql`CREATE INDEX versions_model_state_idx ON versions (model, state)`.execute(db);

  // The pointer may only name a version of the same model.
  await sql`
    ALTER TABLE models ADD CONSTRAINT models_published_version_fkey
      FOREIGN KEY (name, published_version_id) REFERENCES versions (model, id)
  `.execute(db);

  await sql`
    CREATE TABLE runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      model text NOT NULL REFERENCES models (name) ON UPDATE CASCADE,
      slot text NOT NULL CHECK (slot ~ '^[A-Za-z0-9_.-]{1,128}$'),
      trigger text NOT NULL,
      job_id text,
      state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
      phase text NOT NULL DEFAULT 'queued'
        CHECK (phase IN ('queued', 'training', 'scoring', 'indexing', 'validating', 'publishing', 'done')),
      progress double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
      version_id bigint REFERENCES versions (id),
      error text,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      CONSTRAINT runs_model_slot_key UNIQUE (model, slot)
    )`.execute(db);
  await sql`CREATE INDEX runs_model_created_idx ON runs (model, created_at DESC, id DESC)`.execute(db);

  // Partitions are created standalone by the pipeline (estimates_v<id>) and attached when complete.
  await sql`
    CREATE TABLE estimates (
      version_id bigint NOT NULL,
      -- Keys are opaque identifiers: byte order ("C") sorts and indexes them twice as fast as a
      -- linguistic collation, and orders them the same on every server.
      key text COLLATE "C" NOT NULL CHECK (char_length(key) BETWEEN 1 AND 256),
      value double precision NOT NULL,
      lower double precision,
      upper double precision,
      as_of timestamptz,
      PRIMARY KEY (version_id, key)
    ) PARTITION BY LIST (version_id)`.execute(db);

  await sql`
    CREATE TABLE publications (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      model text NOT NULL REFERENCES models (name) ON UPDATE CASCADE,
      version_id bigint NOT NULL REFERENCES versions (id),
      valid_from timestamptz NOT NULL DEFAULT now(),
      valid_to timestamptz,
      actor text NOT NULL,
      reason text,
      CHECK (valid_to IS NULL OR valid_to >= valid_from)
    )`.execute(db);
  await sql`
    CREATE UNIQUE INDEX publications_one_open_per_model ON publications (model) WHERE valid_to IS NULL
  `.execute(db);
  await sql`CREATE INDEX publications_model_valid_from_idx ON publications (model, valid_from)`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
      key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
      scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'admin']::text[] AND cardinality(scopes) > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    )`.execute(db);

  await sql`
    CREATE VIEW latest_estimates AS
    SELECT m.name AS model, v.number AS version, e.key, e.value, e.lower, e.upper, e.as_of
    FROM models m
    JOIN versions v ON v.id = m.published_version_id
    JOIN estimates e ON e.version_id = m.published_version_id`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP VIEW IF EXISTS latest_estimates`.execute(db);
  await sql`DROP TABLE IF EXISTS api_keys, publications, estimates, runs CASCADE`.execute(db);
  await sql`ALTER TABLE models DROP CONSTRAINT IF EXISTS models_published_version_fkey`.execute(db);
  await sql`DROP TABLE IF EXISTS versions, models CASCADE`.execute(db);
}
