import type { Db } from '../db/database.ts';
import type { VersionState } from '../db/types.ts';
import type { Version } from '../db/versions.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { requireModel, resolveVersion, type VersionRef } from '../versions/resolve.ts';
import { requireReadable, STATES_WITH_ROWS } from '../versions/states.ts';

const COMPARABLE: ReadonlySet<VersionState> = new Set(STATES_WITH_ROWS);

/** A version whose estimates can be compared: 404 while running or failed, 410 once pruned. */
export async function comparableVersion(db: Db, model: string, ref: VersionRef): Promise<Version> {
  const version = await resolveVersion(db, model, ref);
  requireReadable(model, version, COMPARABLE, 'it has no estimates to compare');
  return version;
}

export type Diff = { from: Version; to: Version; policy: DriftPolicy };

/** The two versions of a diff and the model's current policy, which the verdict applies. */
export async function resolveDiff(db: Db, model: string, from: VersionRef, to: VersionRef): Promise<Diff> {
  const { spec } = await requireModel(db, model);
  const [a, b] = [await comparableVersion(db, model, from), await comparableVersion(db, model, to)];
  return { from: a, to: b, policy: spec.drift };
}
