import type { Db } from '../db/database.ts';
import { findModel, type Model } from '../db/models.ts';
import { findPublishedVersion, findVersion, type Version } from '../db/versions.ts';
import { NotFoundError } from '../errors.ts';

export type VersionRef = number | 'latest';

export async function requireModel(db: Db, name: string): Promise<Model> {
  const model = await findModel(db, name);
  if (model === undefined)
    throw new NotFoundError(`model "${name}" does not exist; see \`almanac models list\``);
  return model;
}

/** A version by number, or `latest`: the published one. */
export async function resolveVersion(db: Db, model: string, ref: VersionRef): Promise<Version> {
  await requireModel(db, model);
  if (ref === 'latest') {
    const published = await findPublishedVersion(db, model);
    if (published === undefined) {
      throw new NotFoundError(
        `model "${model}" has no published version; publish one with \`almanac publish ${model} N\``,
      );
    }
    return published;
  }
  const version = await findVersion(db, model, ref);
  if (version === undefined) throw new NotFoundError(`model "${model}" has no version ${ref}`);
  return version;
}
