import { NotFoundError } from '../errors.ts';
import { requireReadable, SERVED_STATES } from '../versions/states.ts';
import type { Catalog, ModelEntry, VersionEntry } from './catalog.ts';

export type VersionRequest = number | 'latest';

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
  requireReadable(name, version, SERVED_STATES, 'it is not served');
  return { model, version };
}
