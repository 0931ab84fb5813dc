import { external } from './external.ts';
import { naive } from './naive.ts';
import { ridge } from './ridge.ts';
import type { Artifact, Estimator } from './types.ts';

/** Every estimator a spec may name. A new estimator is one file and one line here. */
export const estimators = {
  ridge,
  naive,
  external,
} as const;

export type EstimatorName = keyof typeof estimators;
export const estimatorNames = Object.keys(estimators) as EstimatorName[];

export function isEstimatorName(name: string): name is EstimatorName {
  return Object.hasOwn(estimators, name);
}

/** The estimator of a (validated) spec, typed loosely for the pipeline, which only passes JSON through. */
export function estimatorFor(name: string): Estimator<unknown, Artifact> {
  if (!isEstimatorName(name)) throw new Error(`unknown estimator "${name}"`);
  return estimators[name] as unknown as Estimator<unknown, Artifact>;
}
