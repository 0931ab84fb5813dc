import type { Db } from '../db/database.ts';
import type { SideSummary } from '../db/drift-stats.ts';
import type { DriftReport } from '../db/json-columns.ts';
import type { Version } from '../db/versions.ts';
import type { DriftPolicy } from '../model/spec.ts';
import { candidateFigures, type DriftFigures, driftFigures, type FigureOptions } from './figures.ts';
import { type Check, maxCheck, minCheck, verdictOf } from './verdict.ts';

/**
 * The drift report between a baseline A and a candidate B (its schema: src/db/json-columns.ts):
 * the figures of test/fixtures/README.md at the top level, then what the two versions are, the
 * keys that moved most, the artifacts and metrics of both (with the candidate's numeric change),
 * the policy applied and its verdict.
 */
export type { DriftReport };
export type VersionRef = { model: string; version: number };

export const TOP_MOVERS = 20;

export type ReportOptions = Pick<FigureOptions, 'inTransaction' | 'timeoutMs'> & {
  /** the candidate's summary, when its writer read it already (summaryAndChecksum): used without a baseline */
  candidateSummary?: Promise<SideSummary> | undefined;
};

/**
 * The report for `candidate` against `baseline` under `policy`. Without a baseline (a model's first
 * version) only `minRows` applies and the figures describe the candidate alone.
 */
export async function driftReport(
  db: Db,
  baseline: Version | undefined,
  candidate: Version,
  policy: DriftPolicy,
  options: ReportOptions = {},
): Promise<DriftReport> {
  const { topMovers, ...rest } =
    baseline === undefined
      ? {
          ...(await candidateFigures(db, candidate.id, options.candidateSummary)),
          topMovers: { up: [], down: [] },
        }
      : await driftFigures(db, baseline.id, candidate.id, policy.changeTolerance, {
          topMovers: TOP_MOVERS,
          inTransaction: options.inTransaction,
          timeoutMs: options.timeoutMs,
        });
  const artifactOf = (version: Version | undefined) => version?.lineage.artifact ?? null;
  const metricsOf = (version: Version | undefined): Record<string, unknown> | null =>
    version?.metrics ?? null;
  return {
    ...rest,
    baseline: baseline === undefined ? null : refOf(baseline),
    candidate: refOf(candidate),
    topMovers,
    artifact: { baseline: artifactOf(baseline), candidate: artifactOf(candidate) },
    metrics: {
      baseline: metricsOf(baseline),
      candidate: metricsOf(candidate),
      delta: numericDelta(metricsOf(baseline), metricsOf(candidate)),
    },
    policy,
    verdict: verdictOf(policyChecks(rest, baseline !== undefined, policy)),
    computedAt: new Date().toISOString(),
  };
}

export function refOf(version: Pick<Version, 'model' | 'number'>): VersionRef {
  return { model: version.model, version: version.number };
}

/** The model's policy against the figures, in the order README.md (Drift) lists its thresholds. */
function policyChecks(figures: DriftFigures, hasBaseline: boolean, policy: DriftPolicy): Check[] {
  const checks = [minCheck('minRows', policy.minRows, figures.b.count)];
  if (!hasBaseline) return checks;
  const { both, removed } = figures.coverage;
  checks.push(
    maxCheck('maxPsi', policy.maxPsi, figures.psi),
    maxCheck('maxKs', policy.maxKs, figures.ksStatistic),
    maxCheck('maxWassersteinNorm', policy.maxWassersteinNorm, figures.wassersteinNorm),
    maxCheck('maxChangedShare', policy.maxChangedShare, figures.changedShare),
    maxCheck(
      'maxRemovedShare',
      policy.maxRemovedShare,
      both + removed === 0 ? 0 : removed / (both + removed),
    ),
  );
  return checks;
}

/** candidate − baseline for every number both hold at the same path (`holdout.mae`, ...). */
function numericDelta(
  baseline: Record<string, unknown> | null,
  candidate: Record<string, unknown> | null,
): Record<string, number> {
  const delta: Record<string, number> = {};
  const walk = (a: unknown, b: unknown, path: string) => {
    if (typeof a === 'number' && typeof b === 'number') {
      delta[path] = b - a;
    } else if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
      for (const [key, value] of Object.entries(b)) {
        walk((a as Record<string, unknown>)[key], value, path === '' ? key : `${path}.${key}`);
      }
    }
  };
  walk(baseline, candidate, '');
  return delta;
}
