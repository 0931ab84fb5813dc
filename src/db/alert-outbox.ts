import { sql } from 'kysely';
import type { Db } from './database.ts';

/** An alert waiting in the outbox (migrations/0007_alert_outbox.ts); `id` is its event id. */
export type OutboxAlert = {
  id: string;
  model: string;
  event: string;
  url: string;
  body: Record<string, unknown>;
  attempts: number;
};

/** Writes an alert, in the caller's transaction when it has one. */
export async function addAlert(
  db: Db,
  alert: { model: string; event: string; url: string; body: Record<string, unknown> },
): Promise<string> {
  const row = await db
    .insertInto('alert_outbox')
    .values({ ...alert, body: JSON.stringify(alert.body) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Takes the oldest due alert for one delivery attempt. It stays in the outbox, leased for
 * `leaseMs`: a deliverer that dies mid-attempt leaves it due again after that, and concurrent
 * deliverers skip the rows another has locked.
 */
export async function claimDueAlert(
  db: Db,
  leaseMs: number,
  /** only this alert (the one a process has just written), if it is due and no one holds it */
  id?: string,
): Promise<OutboxAlert | undefined> {
  const row = await db
    .updateTable('alert_outbox')
    .set({
      attempts: sql`attempts + 1`,
      next_attempt_at: sql`now() + make_interval(secs => ${leaseMs / 1000})`,
    })
    .where(
      'id',
      '=',
      db
        .selectFrom('alert_outbox')
        .select('id')
        .where('delivered_at', 'is', null)
        .where('failed_at', 'is', null)
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        .$if(id !== undefined, (query) => query.where('id', '=', id ?? ''))
        .orderBy('next_attempt_at')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'model', 'event', 'url', 'body', 'attempts'])
    .executeTakeFirst();
  return row === undefined ? undefined : { ...row, body: row.body as Record<string, unknown> };
}

export async function markAlertDelivered(db: Db, id: string): Promise<void> {
  await db
    .updateTable('alert_outbox')
    .set({ delivered_at: sql`now()`, last_error: null })
    .where('id', '=', id)
    .execute();
}

/** An attempt failed: try again after `retryInMs`, or never (`null`: refused, or out of attempts). */
export async function markAlertAttemptFailed(
  db: Db,
  id: string,
  error: string,
  retryInMs: number | null,
): Promise<void> {
  await db
    .updateTable('alert_outbox')
    .set(
      retryInMs === null
        ? { failed_at: sql`now()`, last_error: error }
        : { next_attempt_at: sql`now() + make_interval(secs => ${retryInMs / 1000})`, last_error: error },
    )
    .where('id', '=', id)
    .execute();
}

/** Drops alerts delivered or given up on more than `days` ago. */
export async function pruneAlerts(db: Db, days: number): Promise<number> {
  const result = await db
    .deleteFrom('alert_outbox')
    .where(sql<boolean>`coalesce(delivered_at, failed_at) < now() - make_interval(days => ${days})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
