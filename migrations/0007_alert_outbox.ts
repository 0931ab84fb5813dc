import { type Kysely, sql } from 'kysely';

// Alerts go out through an outbox: the row is written in the transaction that makes the event
// true (a version held), so a process killed before its webhook was sent cannot lose the alert.
// Any worker delivers what is due, at least once; the row's id is the event id receivers
// deduplicate on.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE alert_outbox (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      model text NOT NULL REFERENCES models (name) ON UPDATE CASCADE ON DELETE CASCADE,
      event text NOT NULL,
      url text NOT NULL,
      body jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz,
      failed_at timestamptz,
      last_error text
    )`.execute(db);
  await sql`
    CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS alert_outbox`.execute(db);
}
