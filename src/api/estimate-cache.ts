import { LRUCache } from 'lru-cache';
import type { EstimateRow } from '../db/estimates.ts';

/**
 * A bounded cache of (version, key) lookups. Versions are immutable, so an entry never needs
 * invalidating: it only ages out, least recently used first. A key a version does not have is
 * cached too. (lru-cache, not a Map: evicting a Map's oldest entry over and over makes every
 * eviction walk the holes the previous ones left.)
 */
export class EstimateCache {
  readonly #entries: LRUCache<string, { row: EstimateRow | null }> | undefined;

  constructor(capacity: number) {
    this.#entries = capacity > 0 ? new LRUCache({ max: capacity }) : undefined;
  }

  get(versionId: string, key: string): EstimateRow | null | undefined {
    return this.#entries?.get(`${versionId}\u0000${key}`)?.row;
  }

  set(versionId: string, key: string, row: EstimateRow | null): void {
    this.#entries?.set(`${versionId}\u0000${key}`, { row });
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }
}
