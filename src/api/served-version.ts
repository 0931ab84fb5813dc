import { NotFoundError } from '../errors.ts';
import { ageMs, isStale } from '../versions/freshness.ts';
import { requireReadable, SERVED_STATES } from '../versions/states.ts';
import type { Catalog, Interval, ModelEntry, VersionEntry } from './catalog.ts';

/** What a lookup asks for: the published version, a pinned number, or the one live at an instant (ms). */
export type VersionRequest = number | 'latest' | { at: number };

/**
 * The version a lookup answers from, whether that answer can never change, and whether its data
 * is older than the spec's `maxAgeHours` (only ever for an answer that may still change: a pinned
 * or closed-interval answer is what it was, and says `stale: false`).
 */
export type Served = { version: VersionEntry; immutable: boolean; stale: boolean };

/**
 * The version that answers `requested` from what the catalog holds, with no query: `latest` is
 * the published one (its answer may change); a number is that version (immutable); an instant is
 * the version whose publication interval holds it, `from` inclusive and `to` exclusive (immutable
 * once the interval has closed; the open one, or an instant in the future, may still change).
 * Throws NotFoundError or GoneError (a pruned version) for what cannot be answered. `now` (ms)
 * decides staleness.
 */
export function pickServed(model: ModelEntry, requested: VersionRequest, now = Date.now()): Served {
  const { version, immutable } = pickVersion(model, requested);
  return { version, immutable, stale: !immutable && isStale(model.spec, version.createdAt, now) };
}

function pickVersion(model: ModelEntry, requested: VersionRequest): Omit<Served, 'stale'> {
  const name = model.name;
  if (requested === 'latest') {
    if (model.published === undefined)
      throw new NotFoundError(`model "${name}" has no published version yet`);
    return { version: model.published, immutable: false };
  }
  if (typeof requested === 'number') {
    const version = model.versions.get(requested);
    if (version === undefined) throw new NotFoundError(`model "${name}" has no version ${requested}`);
    requireReadable(name, version, SERVED_STATES, 'it is not served');
    return { version, immutable: true };
  }
  const interval = intervalAt(model.history, requested.at);
  if (interval === undefined) {
    const first = model.history[0];
    throw new NotFoundError(
      first === undefined
        ? `model "${name}" has never published a version`
        : `model "${name}" published nothing before ${new Date(first.from).toISOString()}, its first publish`,
    );
  }
  requireReadable(name, interval.version, SERVED_STATES, 'it is not served');
  return { version: interval.version, immutable: interval.to !== undefined };
}

/** The interval that holds `at` (intervals are sorted, and each starts where the one before ended). */
function intervalAt(history: readonly Interval[], at: number): Interval | undefined {
  let low = 0;
  let high = history.length - 1;
  let found: Interval | undefined;
  // the last interval that starts at or before `at`
  while (low <= high) {
    const middle = (low + high) >> 1;
    const interval = history[middle];
    if (interval === undefined) break;
    if (interval.from <= at) {
      found = interval;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found !== undefined && (found.to === undefined || at < found.to) ? found : undefined;
}

/**
 * `pickServed` on the catalog. A model, or a version number, the catalog has not heard of yet (one
 * created a moment ago) is looked up once.
 */
export async function servedVersion(
  catalog: Catalog,
  name: string,
  requested: VersionRequest,
): Promise<Served & { model: ModelEntry }> {
  let model = catalog.model(name);
  if (model === undefined || (typeof requested === 'number' && !model.versions.has(requested))) {
    await catalog.reload(name);
    model = catalog.model(name);
  }
  if (model === undefined) throw new NotFoundError(`model "${name}" does not exist`);
  return { model, ...pickServed(model, requested) };
}

/** How old the published version's data is, and whether that is stale: undefined when none is published. */
export function freshnessOf(
  model: ModelEntry,
  now = Date.now(),
): { version: number; ageSeconds: number; stale: boolean } | undefined {
  const published = model.published;
  if (published === undefined) return undefined;
  return {
    version: published.number,
    ageSeconds: ageMs(published.createdAt, now) / 1000,
    stale: isStale(model.spec, published.createdAt, now),
  };
}
