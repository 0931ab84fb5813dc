import { type Kysely, sql } from 'kysely';

// The dashboard's sessions: a signed cookie names one of these rows, so that logging out ends the
// session everywhere, not only in the browser that asked. A session belongs to an API key; a key
// deleted takes its sessions with it, and a revoked one is refused on every request anyway.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE dashboard_sessions (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
      key_hash text NOT NULL REFERENCES api_keys (key_hash) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      ended_at timestamptz,
      CHECK (expires_at > created_at)
    )`.execute(db);
  await sql`CREATE INDEX dashboard_sessions_expires_at_idx ON dashboard_sessions (expires_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS dashboard_sessions`.execute(db);
}
