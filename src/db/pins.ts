import { sql } from 'kysely';
import type { Db } from './database.ts';
import type { VersionState } from './types.ts';

/**
 * Pins (migrations/0004_pins.ts). Pinning and pruning serialize on the version's row: a pin locks
 * it to share and checks the version still has rows; retention locks it for update and prunes
 * only when no unexpired pin names it. Whichever comes second sees what the first did.
 */

export type Pin = {
  consumer: string;
  version: number;
  expiresAt: Date | null;
  note: string | null;
  createdAt: Date;
};

const unexpired = sql<boolean>`(p.expires_at IS NULL OR p.expires_at > now())`;

/**
 * Pins `consumer` to a version (its row locked by lockVersionToPin), replacing its pin on the
 * model; true when the consumer had no pin there before.
 */
export async function upsertPin(
  trx: Db,
  pin: { model: string; consumer: string; versionId: string; expiresAt: Date | null; note: string | null },
): Promise<boolean> {
  const row = await trx
    .insertInto('pins')
    .values({
      model: pin.model,
      consumer: pin.consumer,
      version_id: pin.versionId,
      expires_at: pin.expiresAt,
      note: pin.note,
    })
    .onConflict((conflict) =>
      conflict.columns(['model', 'consumer']).doUpdateSet({
        version_id: pin.versionId,
        expires_at: pin.expiresAt,
        note: pin.note,
        created_at: sql`now()`,
      }),
    )
    // xmax is 0 on a row this statement inserted, and set on one it updated
    .returning(sql<boolean>`xmax = 0`.as('inserted'))
    .executeTakeFirstOrThrow();
  return row.inserted;
}

/** A version's state, its row locked to share until the end of the caller's transaction. */
export async function lockVersionToPin(
  trx: Db,
  model: string,
  number: number,
): Promise<{ id: string; state: VersionState } | undefined> {
  return trx
    .selectFrom('versions')
    .select(['id', 'state'])
    .where('model', '=', model)
    .where('number', '=', number)
    .forShare()
    .executeTakeFirst();
}

/** Pins with their version's number and whether they expired, by consumer: what both listings read. */
function selectPins(db: Db) {
  return db
    .selectFrom('pins as p')
    .innerJoin('versions as v', 'v.id', 'p.version_id')
    .select([
      'p.consumer',
      'v.number',
      'p.expires_at',
      'p.note',
      'p.created_at',
      sql<boolean>`NOT ${unexpired}`.as('expired'),
    ])
    .orderBy('p.consumer');
}

function pinOf(row: {
  consumer: string;
  number: number;
  expires_at: Date | null;
  note: string | null;
  created_at: Date;
  expired: boolean;
}): Pin & { expired: boolean } {
  return {
    consumer: row.consumer,
    version: row.number,
    expiresAt: row.expires_at,
    note: row.note,
    createdAt: row.created_at,
    expired: row.expired,
  };
}

/** A model's pins, by consumer, expired ones included (they say so). */
export async function listPins(db: Db, model: string): Promise<(Pin & { expired: boolean })[]> {
  return (await selectPins(db).where('p.model', '=', model).execute()).map(pinOf);
}

/** The unexpired pins of one version. */
export async function pinsOfVersion(db: Db, versionId: string): Promise<Pin[]> {
  const rows = await selectPins(db).where('p.version_id', '=', versionId).where(unexpired).execute();
  return rows.map((row) => {
    const { expired: _expired, ...pin } = pinOf(row);
    return pin;
  });
}

/** Removes a consumer's pin; false when it had none. */
export async function deletePin(db: Db, model: string, consumer: string): Promise<boolean> {
  const result = await db
    .deleteFrom('pins')
    .where('model', '=', model)
    .where('consumer', '=', consumer)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Prunes a version unless an unexpired pin names it, in one transaction holding the version's row
 * for update (so a pin being placed waits, then finds it pruned). Answers the consumers that kept
 * it, or that it was pruned (or no longer prunable: another pass got there first).
 */
export async function pruneUnlessPinned(
  db: Db,
  versionId: string,
  from: readonly VersionState[],
): Promise<{ pruned: boolean; keptBy: string[] }> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('versions')
      .select('state')
      .where('id', '=', versionId)
      .forUpdate()
      .executeTakeFirst();
    if (row === undefined || !from.includes(row.state)) return { pruned: false, keptBy: [] };
    const keptBy = (await pinsOfVersion(trx, versionId)).map((pin) => pin.consumer);
    if (keptBy.length > 0) return { pruned: false, keptBy };
    await trx.updateTable('versions').set({ state: 'pruned' }).where('id', '=', versionId).execute();
    return { pruned: true, keptBy: [] };
  });
}
