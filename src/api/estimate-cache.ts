import type { EstimateRow } from '../db/estimates.ts';

/**
 * A bounded cache of (version, key) lookups. Versions are immutable, so an entry never needs
 * invalidating: it only ages out (least recently used first). A key a version does not have is
 * cached too (as null).
 */
export class EstimateCache {
  readonly #entries = new Map<string, EstimateRow | null>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(versionId: string, key: string): EstimateRow | null | undefined {
    const id = `${versionId}\u0000${key}`;
    const found = this.#entries.get(id);
    if (found === undefined) return undefined;
    // refresh its place: Map keeps insertion order, the first entry is the least recently used
    this.#entries.delete(id);
    this.#entries.set(id, found);
    return found;
  }

  set(versionId: string, key: string, row: EstimateRow | null): void {
    if (this.#capacity === 0) return;
    const id = `${versionId}\u0000${key}`;
    this.#entries.delete(id);
    this.#entries.set(id, row);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
