import { LRUCache } from 'lru-cache';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import type { Diff } from '../drift/diff.ts';
import { type DriftReport, driftReport } from '../drift/report.ts';
import { HttpError, UnavailableError } from '../errors.ts';
import { type Catalog, catalogEntryOf } from './catalog.ts';
import type { VersionReads } from './version-reads.ts';

/**
 * Drift reports between two versions, computed once: versions are immutable, so a report only
 * changes with the policy it was judged by, which is part of the key. Concurrent requests for the
 * same pair wait for one computation; a failed one is forgotten. A report of a million keys keeps
 * two connections and both cores of Postgres busy for seconds, so only `maxRunning` are computed at
 * once: beyond that the answer is 503 with Retry-After, and lookups keep their connections. A
 * report whose queries run past `timeoutMs` (ALMANAC_REPORT_TIMEOUT_MS) is cancelled by Postgres:
 * 503 with Retry-After too, and its connections go back to the pool.
 */
export class ReportCache {
  readonly #reports = new LRUCache<string, Promise<DriftReport>>({ max: 256 });
  readonly #maxRunning: number;
  #running = 0;

  readonly #timeoutMs: number | undefined;

  constructor(maxRunning = 2, timeoutMs?: number) {
    this.#maxRunning = maxRunning;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The report of a diff (src/drift/diff.ts): the API's and the dashboard's, computed once for both,
   * on the replica when it has both versions.
   */
  reportOf(deps: { reads: VersionReads; catalog: Catalog }, diff: Diff): Promise<DriftReport> {
    const model = diff.to.model;
    const versions = [diff.from, diff.to].map((version) => catalogEntryOf(deps.catalog, model, version));
    return this.get(diff.from.id, diff.to.id, diff.policy, () =>
      deps.reads
        .run(versions, ({ db }) =>
          driftReport(db, diff.from, diff.to, diff.policy, { timeoutMs: this.#timeoutMs }),
        )
        .catch((error: unknown) => {
          if (!hasSqlState(error, PgError.queryCanceled)) throw error;
          throw new UnavailableError(
            `the report between versions ${diff.from.number} and ${diff.to.number} of "${diff.from.model}" took longer than ${this.#timeoutMs} ms and was cancelled; try again shortly`,
            { cause: error },
          );
        }),
    );
  }

  get(a: string, b: string, policy: unknown, compute: () => Promise<DriftReport>): Promise<DriftReport> {
    const key = `${a}:${b}:${JSON.stringify(policy)}`;
    const cached = this.#reports.get(key);
    if (cached !== undefined) return cached;
    if (this.#running >= this.#maxRunning) {
      throw new HttpError(503, `${this.#running} drift reports are being computed; try again shortly`, {
        headers: { 'Retry-After': '5' },
      });
    }
    this.#running += 1;
    const report = compute().finally(() => {
      this.#running -= 1;
    });
    this.#reports.set(key, report);
    report.catch(() => this.#reports.delete(key));
    return report;
  }
}
