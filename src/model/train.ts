import type { Db } from '../db/database.ts';
import type { Metrics } from '../db/json-columns.ts';
import type { SourceRef } from '../db/source.ts';
import {
  type DayMoments,
  type DayRange,
  dailyMoments,
  inStableOrder,
  predictionErrors,
  trainingAnchor,
} from '../db/training.ts';
import { PermanentError } from '../errors.ts';
import { naive } from './estimators/naive.ts';
import { estimatorFor } from './estimators/registry.ts';
import type { Artifact, SufficientStats } from './estimators/types.ts';
import { poolMoments, unusableRows } from './moments.ts';
import type { ModelSpec } from './spec.ts';

/** Bad source data that no retry can fix (the pipeline turns it into an UnrecoverableError). */
export class SourceDataError extends PermanentError {
  override name = 'SourceDataError';
}

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
 * Fits a model over its training window: fit on the window without its last `holdoutDays`,
 * measure on those days beside naive, then refit on the whole window for the artifact, whose
 * interval is the 5th–95th percentile of the holdout residuals. The window is read here unless
 * the caller has read it (readTrainingWindow).
 */
export function train(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  window?: TrainingWindow | null,
): Promise<Training> {
  return inStableOrder(db, async (trx) =>
    trainInOrder(trx, spec, source, window === undefined ? await windowInOrder(trx, spec, source) : window),
  );
}

async function trainInOrder(
  db: Db,
  spec: ModelSpec,
  source: SourceRef,
  window: TrainingWindow | null,
): Promise<Training> {
  if (window === null) {
    throw new SourceDataError(
      `source ${source.table} has no rows with a known ${source.target}; nothing to train on`,
    );
  }
  const { anchor, days } = window;
  const estimator = estimatorFor(spec.estimator);
  const fitOn = (stats: SufficientStats) =>
    estimator.fit({ params: spec.params, features: source.features, stats });
  const naiveFeature = naiveFeatureOf(spec, source.features);
  const naiveArtifact = naive.fit({
    params: { feature: naiveFeature },
    features: source.features,
    stats: emptyStats,
  });
  const naiveSql = (columns: string[]) => naive.predictSql(naiveArtifact, columns);

  const whole: DayRange = { anchor, fromDaysBack: spec.trainWindowDays, toDaysBack: 0 };
  const holdout: DayRange = { anchor, fromDaysBack: spec.holdoutDays, toDaysBack: 0 };

  // One scan of the window; the fit-before-holdout and whole-window moments are pooled from it.
  let errors: Awaited<ReturnType<typeof predictionErrors>> | undefined;
  if (spec.holdoutDays > 0) {
    const stats = poolMoments(days.filter((day) => day.daysBack >= spec.holdoutDays));
    if (stats.n > 0) {
      const measured = fitOn(stats);
      const found = await predictionErrors(
        db,
        source,
        holdout,
        (columns) => estimator.predictSql(measured, columns),
        naiveSql,
      );
      if (found.rows > 0) errors = found;
    }
  }
  const wholeStats = poolMoments(days);
  const skipped = unusableRows(days);
  if (wholeStats.n === 0) {
    throw new SourceDataError(
      `source ${source.table} has no usable rows in the ${spec.trainWindowDays} days up to ${anchor} ` +
        `(${skipped} with null or non-finite values)`,
    );
  }
  const artifact = fitOn(wholeStats);
  const inSample = errors === undefined;
  errors ??= await predictionErrors(
    db,
    source,
    whole,
    (columns) => estimator.predictSql(artifact, columns),
    naiveSql,
  );
  artifact.interval = { lower: errors.residualP05 ?? 0, upper: errors.residualP95 ?? 0 };

  return {
    artifact,
    metrics: {
      holdout: { rows: errors.rows, mae: errors.mae, rmse: errors.rmse, bias: errors.bias, inSample },
      naive: { feature: naiveArtifact.feature, ...errors.naive },
      maeRatioToNaive: errors.mae !== null && errors.naive.mae ? errors.mae / errors.naive.mae : null,
    },
    window: { anchor, trainWindowDays: spec.trainWindowDays, holdoutDays: spec.holdoutDays },
    rows: { train: wholeStats.n, holdout: inSample ? 0 : errors.rows, skipped },
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
