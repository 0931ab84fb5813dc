import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { lockModelForTransaction } from '../db/locks.ts';
import { findVersion, mergeLineage, toVersion, transitionVersion, type Version } from '../db/versions.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { prunedError } from './states.ts';

export type Decision = { actor: string; reason?: string | undefined };

/** Why a version was approved, rejected or rolled back to, as an operator writes it. */
export const decisionReason = z.string().max(1000, 'must be at most 1000 characters');

/**
 * Makes a version the model's published one, inside the caller's transaction (which must hold
 * the model lock): the previous one becomes `superseded`, the pointer moves, the publication
 * history gets a new open entry. The change trigger (migration 0002) announces it on
 * `almanac_changes` when the transaction commits, and every API process switches.
 */
export async function publishInTransaction(trx: Db, version: Version, decision: Decision): Promise<Version> {
  await trx
    .updateTable('versions')
    .set({ state: 'superseded' })
    .where('model', '=', version.model)
    .where('state', '=', 'published')
    .where('id', '<>', version.id)
    .execute();
  const published = await trx
    .updateTable('versions')
    .set({ state: 'published', published_at: sql`now()` })
    .where('id', '=', version.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .updateTable('models')
    .set({ published_version_id: version.id, updated_at: sql`now()` })
    .where('name', '=', version.model)
    .execute();
  await trx
    .updateTable('publications')
    .set({ valid_to: sql`now()` })
    .where('model', '=', version.model)
    .where('valid_to', 'is', null)
    .execute();
  await trx
    .insertInto('publications')
    .values({
      model: version.model,
      version_id: version.id,
      actor: decision.actor,
      reason: decision.reason ?? null,
    })
    .execute();
  await mergeLineage(trx, version.id, { published: decisionRecord(decision) });
  return toVersion(published);
}

/**
 * Runs a decision on one version in a transaction holding the model lock; `allowed` says which
 * states it may start from. Throws NotFoundError, GoneError (pruned: its rows are gone) or
 * ConflictError (any other state, with `why`).
 */
async function decide<T>(
  db: Db,
  model: string,
  number: number,
  allowed: { states: Version['state'][]; why: string },
  act: (trx: Db, version: Version) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await lockModelForTransaction(trx, model);
    const version = await findVersion(trx, model, number);
    if (version === undefined) throw new NotFoundError(`model "${model}" has no version ${number}`);
    if (!allowed.states.includes(version.state)) {
      if (version.state === 'pruned') throw prunedError(model, number);
      throw new ConflictError(`version ${number} of "${model}" is ${version.state}; ${allowed.why}`);
    }
    return act(trx, version);
  });
}

/** Approves a held version or rolls back to a superseded one. */
export function publishVersion(db: Db, model: string, number: number, decision: Decision): Promise<Version> {
  return decide(
    db,
    model,
    number,
    {
      states: ['held', 'superseded'],
      why: 'only a held version (approve) or a superseded one (roll back) can be published',
    },
    (trx, version) => publishInTransaction(trx, version, decision),
  );
}

/** Rejects a held version: it will never be published. */
export function rejectVersion(db: Db, model: string, number: number, decision: Decision): Promise<Version> {
  return decide(
    db,
    model,
    number,
    { states: ['held'], why: 'only a held version can be rejected' },
    async (trx, version) => {
      await transitionVersion(trx, version.id, ['held'], 'rejected');
      await mergeLineage(trx, version.id, { rejected: decisionRecord(decision) });
      return { ...version, state: 'rejected' as const };
    },
  );
}

const decisionRecord = (decision: Decision) => ({
  actor: decision.actor,
  reason: decision.reason ?? null,
  at: new Date().toISOString(),
});
