import { type Kysely, sql } from 'kysely';

// Input checks: before training, a refresh compares the source's newest slice with the one the
// published version scored, in a phase of its own, `checking`. A run asked to go past a breach
// (`almanac run --force-inputs`) keeps that on its row, so that every retry of it does too.

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement: the table is locked once, and the new check is validated against its rows.
  await sql`
    ALTER TABLE runs
      DROP CONSTRAINT runs_phase_check,
      ADD CONSTRAINT runs_phase_check CHECK (phase IN (
        'queued', 'checking', 'training', 'scoring', 'indexing', 'validating', 'publishing', 'done'
      )),
      ADD COLUMN force_inputs boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // before this migration, what `checking` does happened at the start of `training`
  await sql`UPDATE runs SET phase = 'training' WHERE phase = 'checking'`.execute(db);
  await sql`
    ALTER TABLE runs
      DROP COLUMN force_inputs,
      DROP CONSTRAINT runs_phase_check,
      ADD CONSTRAINT runs_phase_check CHECK (phase IN (
        'queued', 'training', 'scoring', 'indexing', 'validating', 'publishing', 'done'
      ))`.execute(db);
}
