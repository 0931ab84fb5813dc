/**
 * Freshness: a spec's `maxAgeHours` says how old a published version's data may be before its
 * answers say so. Age runs from the version's `created_at` (when its rows were scored or imported),
 * computed at each request: nothing has to run for a version to become stale.
 */

const HOUR_MS = 3_600_000;

/** How old a version's data is at `now`, in ms. */
export function ageMs(createdAtMs: number, now: number): number {
  return Math.max(0, now - createdAtMs);
}

/** True when the spec has a `maxAgeHours` and the version's data is older than that at `now`. */
export function isStale(
  spec: { maxAgeHours?: number | undefined },
  createdAtMs: number,
  now: number,
): boolean {
  return spec.maxAgeHours !== undefined && ageMs(createdAtMs, now) > spec.maxAgeHours * HOUR_MS;
}
