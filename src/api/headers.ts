/**
 * Header names and values that both serving paths send (the Express app and the lookup fast
 * path in front of it), written once so that the two cannot answer differently.
 */

/** The version an estimate answer comes from (its per-model number). */
export const ESTIMATE_VERSION = 'Estimate-Version';
/** Sent (`true`) on an answer whose data is older than the model's `maxAgeHours`. */
export const ESTIMATE_STALE = 'Estimate-Stale';
export const REQUEST_ID = 'X-Request-Id';

/** A pinned answer never changes; `latest` must be revalidated. */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_REVALIDATE = 'no-cache';

export function cacheControl(pinned: boolean): string {
  return pinned ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
}
