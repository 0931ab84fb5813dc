import type { Db } from '../db/database.ts';
import { featureBins, missingKeys, type NewestSlice } from '../db/input-stats.ts';
import type { InputCheck, InputChecks } from '../db/json-columns.ts';
import type { SourceRef } from '../db/source.ts';
import type { Version } from '../db/versions.ts';
import { PermanentError } from '../errors.ts';
import type { InputChecksPolicy, ModelSpec } from '../model/spec.ts';
import { psiOf } from './psi.ts';
import { maxCheck } from './verdict.ts';

/**
 * The input checks, before training: the source's newest slice (its rows at the newest time, what
 * the run scores) against the slice the published version scored, at the time its lineage
 * records. A model's first run has nothing to compare with and passes. Checks return a report;
 * the refresh decides: it fails in phase `checking`, unless the run was forced past them.
 */

/** The threshold that judges each figure; a check is named by its figure (`nullShare.close`). */
const LIMITS = {
  rowDrop: 'maxRowDrop',
  missingKeys: 'maxMissingKeys',
  nullShare: 'maxNullShare',
  psi: 'maxFeaturePsi',
} as const satisfies Record<string, keyof InputChecksPolicy>;

/** A breach: no retry can fix the source's data (the run fails at once, in `checking`). */
export class InputCheckError extends PermanentError {
  override name = 'InputCheckError';
  readonly version: number;
  /** every check, for the alert (the rest of the figures are in the version's lineage) */
  readonly checks: InputCheck[];

  constructor(model: string, version: number, inputs: Pick<InputChecks, 'checks'>) {
    super(inputChecksFailure(model, inputs));
    this.version = version;
    this.checks = inputs.checks;
  }
}

/**
 * The checks of a run, from what the refresh read before them: the source's newest slice (null
 * for an empty source) and the share of the training window's targets that are missing, which
 * the scan of the window for training's moments counts (src/model/train.ts, readTrainingWindow).
 */
export async function checkInputs(
  db: Db,
  run: {
    spec: ModelSpec;
    source: SourceRef;
    published: Version | undefined;
    forced: boolean;
    newest: NewestSlice | null;
    /**
     * The share of the window's targets that are missing, null without a training window (no
     * target known yet): asked for last, once the checks' own reads are done, as the window's
     * scan that counts it runs beside them.
     */
    targetNullShare: () => Promise<number | null>;
  },
): Promise<InputChecks> {
  const { spec, source, published } = run;
  const time = run.newest?.time ?? null;
  const newest = run.newest ?? {
    rows: 0,
    nullShare: Object.fromEntries(source.features.map((feature) => [feature, null])),
  };
  // The slice a version scored is the source's newest time when it ran: recorded by the checks,
  // and (for versions made before them) the training anchor, which is the same max(time). An
  // imported version records neither: no baseline.
  const baselineTime = published?.lineage.inputs?.time ?? published?.lineage.training?.window.anchor ?? null;
  let compared: Pick<InputChecks, 'baseline' | 'rowChange' | 'missingKeys' | 'missing' | 'psi'> = {
    baseline: null,
    rowChange: null,
    missingKeys: null,
    missing: { count: 0, keys: [] },
    psi: Object.fromEntries(source.features.map((feature) => [feature, null])),
  };
  if (time !== null && published !== undefined && baselineTime !== null) {
    // two reads of the two slices, side by side on connections of their own
    const [keys, bins] = await Promise.all([
      missingKeys(db, source, baselineTime, time),
      featureBins(db, source, baselineTime, time),
    ]);
    compared = {
      baseline: { version: published.number, time: baselineTime, rows: keys.rows },
      rowChange: keys.rows === 0 ? null : (newest.rows - keys.rows) / keys.rows,
      missingKeys: keys.keys === 0 ? null : keys.missing / keys.keys,
      missing: { count: keys.missing, keys: keys.listed },
      psi: Object.fromEntries(
        Object.entries(bins).map(([feature, b]) => [feature, psiOf(b.counts, b.countA, b.countB)]),
      ),
    };
  }

  // the newest slice has no target yet: the target's nulls are counted where training reads it
  const nullShare = { ...newest.nullShare, [source.target]: await run.targetNullShare() };
  const policy = spec.inputs ?? {};
  const checks = [
    check('rowDrop', policy.maxRowDrop, compared.rowChange === null ? null : -compared.rowChange),
    check('missingKeys', policy.maxMissingKeys, compared.missingKeys),
    ...Object.entries(nullShare).map(([column, share]) =>
      check(`nullShare.${column}`, policy.maxNullShare, share),
    ),
    ...Object.entries(compared.psi).map(([feature, psi]) =>
      check(`psi.${feature}`, policy.maxFeaturePsi, psi),
    ),
  ];
  return {
    time,
    ...compared,
    rows: newest.rows,
    nullShare,
    checks,
    passed: checks.every((one) => one.passed),
    forced: run.forced,
  };
}

/**
 * A figure against its threshold. Without a threshold it is reported and passes; so does a figure
 * that cannot be measured (no baseline, an empty slice), which other checks speak for: a feature
 * without a single finite value has no PSI, and a null share of 1.
 */
function check(name: string, threshold: number | undefined, observed: number | null): InputCheck {
  if (threshold === undefined || observed === null) {
    return { name, threshold: threshold ?? null, observed, passed: true };
  }
  return maxCheck(name, threshold, observed);
}

/** `input checks failed: missingKeys 0.2 > maxMissingKeys 0.05; nullShare.close 0.3 > maxNullShare 0.1 (…)` */
export function inputChecksFailure(model: string, inputs: Pick<InputChecks, 'checks'>): string {
  const breaches = inputs.checks
    .filter((one) => !one.passed)
    .map((one) => {
      const limit = LIMITS[one.name.split('.')[0] as keyof typeof LIMITS];
      return `${one.name} ${short(one.observed)} > ${limit} ${short(one.threshold)}`;
    });
  return `input checks failed: ${breaches.join('; ')} (to score anyway: \`almanac run ${model} --force-inputs\`)`;
}

const short = (value: number | null) => (value === null ? 'null' : String(Number(value.toPrecision(4))));
