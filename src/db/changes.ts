import type pg from 'pg';

/**
 * Every change to a model, a version or an API key is announced on this channel by the database
 * itself (migrations/0002_change_notifications.ts), with `{table, model}` as its payload.
 */
export const CHANGES_CHANNEL = 'almanac_changes';

export type Change = { table?: string; model?: string | null };

/** Subscribes a dedicated connection to the channel. */
export async function listenForChanges(client: pg.Client): Promise<void> {
  await client.query(`LISTEN ${CHANGES_CHANNEL}`);
}
