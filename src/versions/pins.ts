import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { deletePin, listPins, lockVersionToPin, type Pin, upsertPin } from '../db/pins.ts';
import { NotFoundError } from '../errors.ts';
import { plainText } from '../plain-text.ts';
import { requireModel } from './resolve.ts';
import { requireReadable, WITH_ROWS } from './states.ts';

/** Who depends on a version: a service, a report, a person (what `migrations/0004_pins.ts` checks). */
export const consumerName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/,
    'must be 1 to 128 letters, digits or _ . @ : -, starting with a letter or digit',
  );

/** Why a pin is there, as its consumer writes it. */
export const pinNote = plainText(1000);

export type PinRequest = { version: number; expiresAt: Date | null; note: string | null };

/**
 * Pins `consumer` to a version of `model` (moving its pin if it had one): 404 for an unknown model
 * or version (or one whose rows were never there), 410 for a pruned one. The version's row stays locked until the pin is written, so a retention pass running at
 * the same moment either sees the pin or has pruned first (then this answers 410).
 */
export async function pinVersion(
  db: Db,
  model: string,
  consumer: string,
  request: PinRequest,
): Promise<{ pin: Pin & { expired: boolean }; created: boolean }> {
  await requireModel(db, model);
  return db.transaction().execute(async (trx) => {
    const version = await lockVersionToPin(trx, model, request.version);
    if (version === undefined) throw new NotFoundError(`model "${model}" has no version ${request.version}`);
    requireReadable(
      model,
      { number: request.version, state: version.state },
      WITH_ROWS,
      'there is nothing to pin',
    );
    const created = await upsertPin(trx, {
      model,
      consumer,
      versionId: version.id,
      expiresAt: request.expiresAt,
      note: request.note,
    });
    const pin = (await listPins(trx, model)).find((each) => each.consumer === consumer);
    if (pin === undefined)
      throw new Error(`the pin of ${consumer} on ${model} was written but cannot be read`);
    return { pin, created };
  });
}

/** Removes a consumer's pin: 404 when the model or the pin does not exist. */
export async function unpinVersion(db: Db, model: string, consumer: string): Promise<void> {
  await requireModel(db, model);
  if (!(await deletePin(db, model, consumer)))
    throw new NotFoundError(`"${consumer}" has no pin on model "${model}"`);
}

/** A model's pins (expired ones too, saying so): 404 for an unknown model. */
export async function modelPins(db: Db, model: string): Promise<(Pin & { expired: boolean })[]> {
  await requireModel(db, model);
  return listPins(db, model);
}
