import { type Kysely, sql } from 'kysely';

// Pins: a consumer (a service, a report) says it depends on a version of a model, until an expiry
// or for good; retention never prunes a version with an unexpired pin. One pin per consumer and
// model: pinning again moves it.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE pins (
      model text NOT NULL REFERENCES models (name) ON UPDATE CASCADE,
      consumer text NOT NULL CHECK (consumer ~ '^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$'),
      version_id bigint NOT NULL REFERENCES versions (id),
      expires_at timestamptz,
      note text CHECK (char_length(note) <= 1000),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (model, consumer)
    )`.execute(db);
  await sql`CREATE INDEX pins_version_id_idx ON pins (version_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS pins`.execute(db);
}
