import type pg from 'pg';
import { z } from 'zod';

/**
 * Every change to a model, a version or an API key is announced on this channel by the database
 * itself (migrations/0002_change_notifications.ts), with `{table, model}` as its payload.
 */
export const CHANGES_CHANNEL = 'almanac_changes';

const changeSchema = z.object({
  table: z.enum(['models', 'versions', 'api_keys']),
  model: z.string().nullable(),
});

export type Change = z.infer<typeof changeSchema>;

/**
 * A notification's payload as the trigger writes it, or undefined for anything else: any role
 * that can connect may NOTIFY on any channel (Postgres has no privilege for it), so a payload is
 * input like any other.
 */
export function parseChange(payload: string | undefined): Change | undefined {
  try {
    const parsed = changeSchema.safeParse(JSON.parse(payload ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Subscribes a dedicated connection to the channel. */
export async function listenForChanges(client: pg.Client): Promise<void> {
  await client.query(`LISTEN ${CHANGES_CHANNEL}`);
}
