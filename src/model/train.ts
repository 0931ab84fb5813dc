import type { Db } from '../db/database.ts';
import type { Metrics } from '../db/json-columns.ts';
import type { SourceRef } from '../db/source.ts';
import {
  type DayRange,
  type ErrorStats,
  inStableOrder,
  type MomentGroup,
  type Predictions,
  scanRange,
  trainingAnchor,
} from '../db/training.ts';
import { SourceDataError } from '../errors.ts';
import { type NaiveArtifact, naive } from './estimators/naive.ts';
import { estimatorFor } from './estimators/registry.ts';
import type { Artifact, SufficientStats } from './estimators/types.ts';
import { poolMoments, unusableRows } from './moments.ts';
import type { ModelSpec } from './spec.ts';

export type Training = {
  artifact: Artifact;
  metrics: Metrics;
  window: { anchor: string; trainWindowDays: number; holdoutDays: number };
  rows: { train: number; holdout: number; skipped: number };
};

/**
 * Where a window ends (its anchor), the moments of its rows and, when the window has a holdout, the
 * fit on the days before it measured on its days: what training fits and measures from.
 */
export type TrainingWindow = {
  anchor: string;
  /** the groups of the days before the holdout: the whole window when it has none */
  beforeHoldout: MomentGroup[];
  /** the groups of the holdout's days */
  holdout: MomentGroup[];
  /** the fit on the days before the holdout and its errors on the holdout's usable rows (rows > 0) */
  measured: { artifact: Artifact; errors: ErrorStats } | undefined;
};

/** Every group of the window, the holdout's and the days' before it. */
export const windowGroups = (window: TrainingWindow): MomentGroup[] => [
  ...window.beforeHoldout,
  ...window.holdout,
];

/**
 * The training window, each of its rows read once: null when no row has a known target. The days
 * before the holdout are scanned first, for their moments; the fit on them is then measured in the
 * scan of the holdout's days, which also gives their moments, so the whole window's fit needs no
 * third scan. Read before the input checks, which take the share of its missing targets from it
 * (moments.ts), and handed to fitModel then. `newest` (the source's newest time and how many of
 * its rows have a target) spares finding the window's anchor a scan.
 */
export function readTrainingWindow(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  newest?: { time: string; targetRows: number },
): Promise<TrainingWindow | null> {
  return inStableOrder(db, (trx) => windowInOrder(trx, spec, source, newest));
}

async function windowInOrder(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  newest?: { time: string; targetRows: number },
): Promise<TrainingWindow | null> {
  const anchor = await trainingAnchor(db, source, newest);
  if (anchor === null) return null;
  const range = (fromDaysBack: number, toDaysBack: number): DayRange => ({
    anchor,
    fromDaysBack,
    toDaysBack,
  });
  const before = await scanRange(db, source, range(spec.trainWindowDays, spec.holdoutDays));
  if (spec.holdoutDays === 0)
    return { anchor, beforeHoldout: before.groups, holdout: [], measured: undefined };
  const artifact = fitBeforeHoldout(spec, source, before.groups);
  const holdout = await scanRange(
    db,
    source,
    range(spec.holdoutDays, 0),
    artifact === undefined ? undefined : predictionsOf(spec, source, artifact),
  );
  const errors = holdout.errors;
  return {
    anchor,
    beforeHoldout: before.groups,
    holdout: holdout.groups,
    measured:
      artifact !== undefined && errors !== undefined && errors.rows > 0 ? { artifact, errors } : undefined,
  };
}

/**
 * The fit on the days before the holdout, to be measured on its days; none when those days have
 * no usable row, or when it cannot be fit: fitModel fits it again and says why, once the input
 * checks (which come first) have passed.
 */
function fitBeforeHoldout(spec: ModelSpec, source: SourceRef, groups: MomentGroup[]): Artifact | undefined {
  const stats = poolMoments(groups);
  if (stats.n === 0) return undefined;
  try {
    return fitOn(spec, source, stats);
  } catch {
    return undefined;
  }
}

const fitOn = (spec: ModelSpec, source: SourceRef, stats: SufficientStats) =>
  estimatorFor(spec.estimator).fit({ params: spec.params, features: source.features, stats });

/** A model's predictions, and naive's beside them, as the SQL a range's scan measures. */
function predictionsOf(spec: ModelSpec, source: SourceRef, artifact: Artifact): Predictions {
  const estimator = estimatorFor(spec.estimator);
  const floor = naiveOf(spec, source);
  return {
    model: (columns) => estimator.predictSql(artifact, columns),
    naive: (columns) => naive.predictSql(floor, columns),
  };
}

const naiveOf = (spec: ModelSpec, source: SourceRef): NaiveArtifact =>
  naive.fit({
    params: { feature: naiveFeatureOf(spec, source.features) },
    features: source.features,
    stats: emptyStats,
  });

/**
 * Fits a model over its training window and measures it: see fitModel and measureModel. The
 * window is read here unless the caller has read it (readTrainingWindow).
 */
export function train(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  window?: TrainingWindow | null,
): Promise<Training> {
  return inStableOrder(db, async (trx) => {
    const fitted = fitModel(
      spec,
      source,
      window === undefined ? await windowInOrder(trx, spec, source) : window,
    );
    return measureInOrder(trx, source, fitted);
  });
}

/**
 * A model fitted on its window: its artifact's interval is still to come from the residuals
 * (measureModel), which the window's read has mostly measured already.
 */
export type FittedModel = {
  /** the refit on the whole window, with an interval of zero width until it is measured */
  artifact: Artifact;
  /** the fit on the window without its last `holdoutDays` and its errors on those days */
  measured: TrainingWindow['measured'];
  window: Training['window'];
  rows: { train: number; skipped: number };
  spec: ModelSpec;
};

/**
 * Fits on the window's moments alone, in Node (no query): on the whole window for the artifact,
 * and on the window without its last `holdoutDays` when the window's read could not (to say why).
 */
export function fitModel(spec: ModelSpec, source: SourceRef, window: TrainingWindow | null): FittedModel {
  if (window === null) {
    throw new SourceDataError(
      `source ${source.table} has no rows with a known ${source.target}; nothing to train on`,
    );
  }
  const { anchor } = window;
  const groups = windowGroups(window);
  const wholeStats = poolMoments(groups);
  const skipped = unusableRows(groups);
  if (wholeStats.n === 0) {
    throw new SourceDataError(
      `source ${source.table} has no usable rows in the ${spec.trainWindowDays} days up to ${anchor} ` +
        `(${skipped} with null or non-finite values)`,
    );
  }
  if (window.measured === undefined && spec.holdoutDays > 0) {
    // the fit the read could not make fails here, if it fails, with its reason
    const beforeStats = poolMoments(window.beforeHoldout);
    if (beforeStats.n > 0) fitOn(spec, source, beforeStats);
  }
  return {
    artifact: fitOn(spec, source, wholeStats),
    measured: window.measured,
    window: { anchor, trainWindowDays: spec.trainWindowDays, holdoutDays: spec.holdoutDays },
    rows: { train: wholeStats.n, skipped },
    spec,
  };
}

/**
 * Measures a fitted model beside naive: on the holdout days, as the window's read did, or in
 * sample (a scan of the whole window) when they have no usable rows. The artifact's interval is
 * the 5th–95th percentile of those residuals.
 */
export function measureModel(db: Db, source: SourceRef, fitted: FittedModel): Promise<Training> {
  return inStableOrder(db, (trx) => measureInOrder(trx, source, fitted));
}

async function measureInOrder(db: Db, source: SourceRef, fitted: FittedModel): Promise<Training> {
  const { spec, window } = fitted;
  const inSample = fitted.measured === undefined;
  const errors =
    fitted.measured?.errors ??
    (
      await scanRange(
        db,
        source,
        { anchor: window.anchor, fromDaysBack: spec.trainWindowDays, toDaysBack: 0 },
        predictionsOf(spec, source, fitted.artifact),
      )
    ).errors;
  if (errors === undefined) throw new Error('a scan with predictions measured nothing');
  return {
    artifact: {
      ...fitted.artifact,
      interval: { lower: errors.residualP05 ?? 0, upper: errors.residualP95 ?? 0 },
    },
    metrics: {
      holdout: { rows: errors.rows, mae: errors.mae, rmse: errors.rmse, bias: errors.bias, inSample },
      naive: { feature: naiveOf(spec, source).feature, ...errors.naive },
      maeRatioToNaive: errors.mae !== null && errors.naive.mae ? errors.mae / errors.naive.mae : null,
    },
    window,
    rows: { train: fitted.rows.train, holdout: inSample ? 0 : errors.rows, skipped: fitted.rows.skipped },
  };
}

/** The feature naive repeats: a naive model's own, else the first; what every model is measured against. */
export function naiveFeatureOf(
  spec: { estimator: string; params: Record<string, unknown> },
  features: string[],
): string | undefined {
  const own = spec.params.feature;
  return spec.estimator === 'naive' && typeof own === 'string' ? own : features[0];
}

const emptyStats = { n: 0, featureMeans: [], featureCov: [], targetMean: 0, featureTargetCov: [] };
