import type { Db } from '../db/database.ts';
import { findModel, type Model } from '../db/models.ts';
import { findPublishedVersion, findVersion, type Version } from '../db/versions.ts';
import { NotFoundError } from '../errors.ts';
import { requireReadable, WITH_ROWS } from './states.ts';

export type VersionRef = number | 'latest';

export async function requireModel(db: Db, name: string): Promise<Model> {
  const model = await findModel(db, name);
  if (model === undefined)
    throw new NotFoundError(`model "${name}" does not exist`, 'see `almanac models list`');
  return model;
}

/**
 * A version whose rows are there, to export or compare (held and rejected ones too): 404 while
 * running or failed, 410 once pruned.
 */
export async function versionWithRows(db: Db, model: string, ref: VersionRef): Promise<Version> {
  const version = await resolveVersion(db, model, ref);
  requireReadable(model, version, WITH_ROWS, 'it has no estimates');
  return version;
}

/** A version by number, or `latest`: the published one. */
export async function resolveVersion(db: Db, model: string, ref: VersionRef): Promise<Version> {
  const version =
    ref === 'latest' ? await findPublishedVersion(db, model) : await findVersion(db, model, ref);
  if (version !== undefined) return version;
  // Only a miss asks whether the model itself is missing, which is the answer then.
  await requireModel(db, model);
  if (ref === 'latest') {
    throw new NotFoundError(
      `model "${model}" has no published version`,
      `publish one with \`almanac publish ${model} N\``,
    );
  }
  throw new NotFoundError(`model "${model}" has no version ${ref}`);
}
