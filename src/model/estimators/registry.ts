import { z } from 'zod';

/**
 * Every estimator a spec may name. An estimator is one entry here: its parameters (with defaults)
 * and whether it reads a source table (`external` estimates are imported, not computed).
 */
export const estimators = {
  ridge: {
    needsSource: true,
    params: z.object({ alpha: z.number().finite().min(0, 'must be 0 or more').default(1) }).strict(),
  },
  naive: {
    needsSource: true,
    params: z.object({ feature: z.string().min(1, 'must name one of source.features').optional() }).strict(),
  },
  external: {
    needsSource: false,
    params: z.object({}).strict(),
  },
} as const;

export type EstimatorName = keyof typeof estimators;
export const estimatorNames = Object.keys(estimators) as EstimatorName[];

export function isEstimatorName(name: string): name is EstimatorName {
  return Object.hasOwn(estimators, name);
}
