import { GoneError, NotFoundError } from '../errors.ts';
import type { Catalog, ModelEntry, VersionEntry } from './catalog.ts';

export type VersionRequest = number | 'latest';

/** States whose rows clients may read: a running, failed or rejected version is never served. */
const SERVED = new Set(['held', 'published', 'superseded']);

/**
 * The version a lookup answers from: the published one for `latest`, or the pinned number. A
 * number the catalog has not heard of yet (a version created a moment ago) is looked up once.
 */
export async function servedVersion(
  catalog: Catalog,
  name: string,
  requested: VersionRequest,
): Promise<{ model: ModelEntry; version: VersionEntry }> {
  let model = catalog.model(name);
  if (model === undefined || (requested !== 'latest' && !model.versions.has(requested))) {
    await catalog.reload(name);
    model = catalog.model(name);
  }
  if (model === undefined) throw new NotFoundError(`model "${name}" does not exist`);
  if (requested === 'latest') {
    if (model.published === undefined)
      throw new NotFoundError(`model "${name}" has no published version yet`);
    return { model, version: model.published };
  }
  const version = model.versions.get(requested);
  if (version === undefined) throw new NotFoundError(`model "${name}" has no version ${requested}`);
  if (version.state === 'pruned') {
    throw new GoneError(`version ${requested} of "${name}" was pruned by retention; its estimates are gone`);
  }
  if (!SERVED.has(version.state)) {
    throw new NotFoundError(`version ${requested} of "${name}" is ${version.state}; it is not served`);
  }
  return { model, version };
}
