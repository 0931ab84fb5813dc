import type { Db } from '../db/database.ts';
import type { Version } from '../db/versions.ts';
import { GoneError, NotFoundError } from '../errors.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { requireModel, resolveVersion, type VersionRef } from '../versions/resolve.ts';

/** States whose rows are still there to compare (a rejected version's stay until retention). */
const COMPARABLE = new Set(['held', 'published', 'superseded', 'rejected']);

/** A version whose estimates can be compared: 404 while running or failed, 410 once pruned. */
export async function comparableVersion(db: Db, model: string, ref: VersionRef): Promise<Version> {
  const version = await resolveVersion(db, model, ref);
  if (version.state === 'pruned') {
    throw new GoneError(
      `version ${version.number} of "${model}" was pruned by retention; its estimates are gone`,
    );
  }
  if (!COMPARABLE.has(version.state)) {
    throw new NotFoundError(
      `version ${version.number} of "${model}" is ${version.state}; it has no estimates to compare`,
    );
  }
  return version;
}

export type Diff = { from: Version; to: Version; policy: DriftPolicy };

/** The two versions of a diff and the model's current policy, which the verdict applies. */
export async function resolveDiff(db: Db, model: string, from: VersionRef, to: VersionRef): Promise<Diff> {
  const { spec } = await requireModel(db, model);
  const [a, b] = [await comparableVersion(db, model, from), await comparableVersion(db, model, to)];
  return { from: a, to: b, policy: spec.drift };
}
