import { LRUCache } from 'lru-cache';
import type { DriftReport } from '../drift/report.ts';

/**
 * Drift reports between two versions, computed once: versions are immutable, so a report only
 * changes with the policy it was judged by, which is part of the key. Concurrent requests for the
 * same pair wait for one computation; a failed one is forgotten.
 */
export class ReportCache {
  readonly #reports = new LRUCache<string, Promise<DriftReport>>({ max: 256 });

  get(a: string, b: string, policy: unknown, compute: () => Promise<DriftReport>): Promise<DriftReport> {
    const key = `${a}:${b}:${JSON.stringify(policy)}`;
    const cached = this.#reports.get(key);
    if (cached !== undefined) return cached;
    const report = compute();
    this.#reports.set(key, report);
    report.catch(() => this.#reports.delete(key));
    return report;
  }
}
