import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { type EstimateRow, findEstimate, findEstimates } from '../db/estimates.ts';
import type { VersionEntry } from './catalog.ts';
import type { EstimateCache } from './estimate-cache.ts';
import { cacheControl, ESTIMATE_STALE, ESTIMATE_VERSION } from './headers.ts';
import type { Metrics } from './metrics.ts';
import type { Estimate } from './responses.ts';
import type { Served } from './served-version.ts';
import type { VersionReads } from './version-reads.ts';

/**
 * What a single lookup answers, shared by the Express route and the fast path in front of it, so
 * that the two cannot drift apart: the ETag, the caching, the body, and the read itself.
 */

/** The ETag of one key's answer: its version and key, and whether it was stale (a change of that is a new answer). */
export function estimateEtag(served: Pick<Served, 'version' | 'stale'>, key: string): string {
  const hash = createHash('sha1').update(key).digest('base64url').slice(0, 16);
  return `"${served.version.id}-${hash}${served.stale ? '-stale' : ''}"`;
}

/** The headers of every estimate answer (single or batch, found or not): version, caching, staleness. */
export function servedHeaders(served: Served): Record<string, string> {
  return {
    [ESTIMATE_VERSION]: String(served.version.number),
    'Cache-Control': cacheControl(served.immutable),
    ...(served.stale ? { [ESTIMATE_STALE]: 'true' } : {}),
  };
}

/**
 * Whether If-None-Match names this answer's ETag, by RFC 9110's weak comparison (a cache may send
 * the tag back as `W/"…"`). Said before the row is read: the tag is the version's and the key's.
 */
export function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** `If-None-Match: *`: any answer that exists is one the client has; said once the row is found. */
export function matchesAnyAnswer(ifNoneMatch: string | undefined): boolean {
  return ifNoneMatch?.trim() === '*';
}

export function estimateBody(
  model: string,
  version: number,
  row: EstimateRow,
  stale: boolean,
): z.infer<typeof Estimate> {
  return {
    model,
    version,
    key: row.key,
    value: row.value,
    lower: row.lower,
    upper: row.upper,
    asOf: row.as_of_ms === null ? null : new Date(row.as_of_ms).toISOString(),
    stale,
  };
}

export function missingKeyDetail(model: string, version: number, key: string): string {
  return `version ${version} of "${model}" has no estimate for key "${key}"`;
}

type ReadDeps = { reads: VersionReads; cache: EstimateCache; metrics: Metrics };

/** One (version, key): from the cache, else Postgres (and then cached, a miss included). */
export async function readEstimate(
  deps: ReadDeps,
  model: string,
  version: VersionEntry,
  key: string,
): Promise<EstimateRow | null> {
  deps.metrics.lookups.inc({ model });
  const cached = deps.cache.get(version.id, key);
  deps.metrics.cacheLookups(cached === undefined ? 0 : 1, cached === undefined ? 1 : 0);
  if (cached !== undefined) return cached;
  const row = (await deps.reads.run([version], ({ pool }) => findEstimate(pool, version.id, key))) ?? null;
  deps.cache.set(version.id, key, row);
  return row;
}

/** Many keys of one version the same way: the cache first, one query for the rest. */
export async function readEstimates(
  deps: ReadDeps,
  model: string,
  version: VersionEntry,
  keys: readonly string[],
): Promise<Map<string, EstimateRow | null>> {
  const versionId = version.id;
  deps.metrics.lookups.inc({ model }, keys.length);
  const found = new Map<string, EstimateRow | null>();
  for (const key of keys) {
    const cached = deps.cache.get(versionId, key);
    if (cached !== undefined) found.set(key, cached);
  }
  const wanted = [...new Set(keys.filter((key) => !found.has(key)))];
  deps.metrics.cacheLookups(keys.length - wanted.length, wanted.length);
  if (wanted.length > 0) {
    const rows = await deps.reads.run([version], ({ pool }) => findEstimates(pool, versionId, wanted));
    for (const row of rows) found.set(row.key, row);
    for (const key of wanted) {
      const row = found.get(key) ?? null;
      found.set(key, row);
      deps.cache.set(versionId, key, row);
    }
  }
  return found;
}
