import type { Db } from '../db/database.ts';
import type { Metrics } from '../db/json-columns.ts';
import type { SourceRef } from '../db/source.ts';
import {
  type DayMoments,
  type DayRange,
  dailyMoments,
  type ErrorStats,
  inStableOrder,
  predictionErrors,
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

/** Where a window ends (its anchor) and the moments of its days: what training fits from. */
export type TrainingWindow = { anchor: string; days: DayMoments[] };

/**
 * The training window, read in one scan: null when no row has a known target. Read before the
 * input checks, which take the share of its missing targets from it (moments.ts), and handed to
 * `train` then. `newest` (the source's newest time and how many of its rows have a target) spares
 * finding the window's anchor a scan.
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
  const whole: DayRange = { anchor, fromDaysBack: spec.trainWindowDays, toDaysBack: 0 };
  return { anchor, days: await dailyMoments(db, source, whole) };
}

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
 * A model fitted on its window, not measured yet: its artifact's interval is still to come from
 * the residuals (measureModel), which a refresh computes while it scores.
 */
export type FittedModel = {
  /** the refit on the whole window, with an interval of zero width until it is measured */
  artifact: Artifact;
  /** the fit on the window without its last `holdoutDays`, measured on those days; none without them */
  beforeHoldout: Artifact | undefined;
  naive: NaiveArtifact;
  window: Training['window'];
  rows: { train: number; skipped: number };
  spec: ModelSpec;
};

/**
 * Fits on the window's moments alone, in Node (no query): on the window without its last
 * `holdoutDays` to be measured on those days, and on the whole window for the artifact.
 */
export function fitModel(spec: ModelSpec, source: SourceRef, window: TrainingWindow | null): FittedModel {
  if (window === null) {
    throw new SourceDataError(
      `source ${source.table} has no rows with a known ${source.target}; nothing to train on`,
    );
  }
  const { anchor, days } = window;
  const estimator = estimatorFor(spec.estimator);
  const fitOn = (stats: SufficientStats) =>
    estimator.fit({ params: spec.params, features: source.features, stats });
  const wholeStats = poolMoments(days);
  const skipped = unusableRows(days);
  if (wholeStats.n === 0) {
    throw new SourceDataError(
      `source ${source.table} has no usable rows in the ${spec.trainWindowDays} days up to ${anchor} ` +
        `(${skipped} with null or non-finite values)`,
    );
  }
  const holdoutStats =
    spec.holdoutDays > 0 ? poolMoments(days.filter((day) => day.daysBack >= spec.holdoutDays)) : undefined;
  return {
    artifact: fitOn(wholeStats),
    beforeHoldout: holdoutStats !== undefined && holdoutStats.n > 0 ? fitOn(holdoutStats) : undefined,
    naive: naive.fit({
      params: { feature: naiveFeatureOf(spec, source.features) },
      features: source.features,
      stats: emptyStats,
    }),
    window: { anchor, trainWindowDays: spec.trainWindowDays, holdoutDays: spec.holdoutDays },
    rows: { train: wholeStats.n, skipped },
    spec,
  };
}

/**
 * Measures a fitted model beside naive: on the holdout days, or in sample (the whole window) when
 * it has none with usable rows. The artifact's interval is the 5th–95th percentile of those
 * residuals. A scan of the holdout rows and a sort of their residuals, in Postgres.
 */
export function measureModel(db: Db, source: SourceRef, fitted: FittedModel): Promise<Training> {
  return inStableOrder(db, (trx) => measureInOrder(trx, source, fitted));
}

async function measureInOrder(db: Db, source: SourceRef, fitted: FittedModel): Promise<Training> {
  const { spec, window } = fitted;
  const estimator = estimatorFor(spec.estimator);
  const naiveSql = (columns: string[]) => naive.predictSql(fitted.naive, columns);
  const range = (fromDaysBack: number): DayRange => ({ anchor: window.anchor, fromDaysBack, toDaysBack: 0 });
  let errors: ErrorStats | undefined;
  if (fitted.beforeHoldout !== undefined) {
    const measured = fitted.beforeHoldout;
    const found = await predictionErrors(
      db,
      source,
      range(spec.holdoutDays),
      (columns) => estimator.predictSql(measured, columns),
      naiveSql,
    );
    if (found.rows > 0) errors = found;
  }
  const inSample = errors === undefined;
  errors ??= await predictionErrors(
    db,
    source,
    range(spec.trainWindowDays),
    (columns) => estimator.predictSql(fitted.artifact, columns),
    naiveSql,
  );
  return {
    artifact: {
      ...fitted.artifact,
      interval: { lower: errors.residualP05 ?? 0, upper: errors.residualP95 ?? 0 },
    },
    metrics: {
      holdout: { rows: errors.rows, mae: errors.mae, rmse: errors.rmse, bias: errors.bias, inSample },
      naive: { feature: fitted.naive.feature, ...errors.naive },
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
