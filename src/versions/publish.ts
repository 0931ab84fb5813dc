import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { lockModelForTransaction } from '../db/locks.ts';
import { flipPublished } from '../db/publications.ts';
import { findVersion, mergeLineage, transitionVersion, type Version } from '../db/versions.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { plainText } from '../plain-text.ts';
import { requireModel } from './resolve.ts';
import { type RetentionDeps, retainAfterPublish } from './retention.ts';
import { prunedError } from './states.ts';

export type Decision = {
  actor: string;
  reason?: string | undefined;
  /** publish only from this state: approve only a held version, roll back only a superseded one */
  from?: 'held' | 'superseded' | undefined;
};

/** The state a publish means to start from: `held` (approve) or `superseded` (roll back). */
export const publishFrom = z.enum(['held', 'superseded'], { error: 'must be "held" or "superseded"' });

/** Why a version was approved, rejected or rolled back to, as an operator writes it. */
export const decisionReason = plainText(1000)
  // an empty reason is none at all
  .transform((reason) => (reason.trim() === '' ? undefined : reason));

/**
 * Makes a version the model's published one, inside the caller's transaction (which must hold
 * the model lock), and records who did it and why in its lineage.
 */
export async function publishInTransaction(trx: Db, version: Version, decision: Decision): Promise<Version> {
  const published = await flipPublished(trx, version, {
    actor: decision.actor,
    reason: decision.reason ?? null,
  });
  // the lineage's instant is the flip's own, the version's publishedAt to the millisecond
  await mergeLineage(trx, version.id, {
    published: decisionRecord(decision, published.publishedAt ?? undefined),
  });
  return published;
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

/**
 * Approves a held version or rolls back to a superseded one; then retention runs, as after any
 * publish (the version that stopped being published may now be past `keepVersions`).
 */
export async function publishVersion(
  deps: RetentionDeps,
  model: string,
  number: number,
  decision: Decision,
): Promise<Version> {
  const { published, keepVersions } = await decide(
    deps.db,
    model,
    number,
    decision.from === undefined
      ? {
          states: ['held', 'superseded'],
          why: 'only a held version (approve) or a superseded one (roll back) can be published',
        }
      : {
          states: [decision.from],
          why: `it was to be ${decision.from === 'held' ? 'approved' : 'rolled back to'} from ${decision.from}`,
        },
    async (trx, version) => ({
      published: await publishInTransaction(trx, version, decision),
      keepVersions: (await requireModel(trx, model)).spec.retention.keepVersions,
    }),
  );
  await retainAfterPublish(deps, model, keepVersions);
  return published;
}

/** Rejects a held version: it will never be published. */
export function rejectVersion(
  deps: Pick<RetentionDeps, 'db'>,
  model: string,
  number: number,
  decision: Decision,
): Promise<Version> {
  return decide(
    deps.db,
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

const decisionRecord = (decision: Decision, at = new Date()) => ({
  actor: decision.actor,
  reason: decision.reason ?? null,
  at: at.toISOString(),
});
