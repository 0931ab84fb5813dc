import { type Coverage, versionCoverage } from '../db/coverage.ts';
import type { Db } from '../db/database.ts';
import type { Version } from '../db/versions.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { maxCheck, minCheck, type Verdict, verdictOf } from './verdict.ts';

export type VersionRef = { model: string; version: number };

/** What the gate found for a candidate against the published baseline: data, not a decision. */
export type GateReport = {
  baseline: VersionRef | null;
  candidate: VersionRef;
  coverage: Coverage | null;
  verdict: Verdict;
};

/**
 * Checks a candidate against the model's published version under its drift policy. The first
 * version of a model has no baseline: only `minRows` applies.
 */
export async function checkCandidate(
  db: Db,
  candidate: Version & { rowCount: number },
  baseline: Version | undefined,
  policy: DriftPolicy,
): Promise<GateReport> {
  const checks = [minCheck('minRows', policy.minRows, candidate.rowCount)];
  let coverage: Coverage | null = null;
  if (baseline !== undefined) {
    coverage = await versionCoverage(db, baseline.id, candidate.id);
    const baselineKeys = coverage.both + coverage.removed;
    checks.push(
      maxCheck(
        'maxRemovedShare',
        policy.maxRemovedShare,
        baselineKeys === 0 ? 0 : coverage.removed / baselineKeys,
      ),
    );
  }
  return {
    baseline: baseline === undefined ? null : { model: baseline.model, version: baseline.number },
    candidate: { model: candidate.model, version: candidate.number },
    coverage,
    verdict: verdictOf(checks),
  };
}
