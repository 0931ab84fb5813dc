import type { Db } from '../db/database.ts';
import type { Version } from '../db/versions.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { requireModel, type VersionRef, versionWithRows } from '../versions/resolve.ts';

export type Diff = { from: Version; to: Version; policy: DriftPolicy };

/** The two versions of a diff and the model's current policy, which the verdict applies. */
export async function resolveDiff(db: Db, model: string, from: VersionRef, to: VersionRef): Promise<Diff> {
  const { spec } = await requireModel(db, model);
  const [a, b] = [await versionWithRows(db, model, from), await versionWithRows(db, model, to)];
  return { from: a, to: b, policy: spec.drift };
}
