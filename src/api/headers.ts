/**
 * Header names and values that both serving paths send (the Express app and the lookup fast
 * path in front of it), written once so that the two cannot answer differently.
 */

/** The version an estimate answer comes from (its per-model number). */
export const ESTIMATE_VERSION = 'Estimate-Version';
export const REQUEST_ID = 'X-Request-Id';

/** A pinned answer never changes; `latest` must be revalidated. */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_REVALIDATE = 'no-cache';

export function cacheControl(pinned: boolean): string {
  return pinned ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
}

/** The security headers the app's helmet sets on every API answer (a test keeps them equal). */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'SAMEORIGIN',
};
