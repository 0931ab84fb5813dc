import { z } from 'zod';
import type { Artifact, Estimator } from './types.ts';

/** The last observed value of one feature: the floor every real model must beat. */

const params = z
  .object({ feature: z.string().min(1, 'must name one of source.features').optional() })
  .strict();

export type NaiveArtifact = Artifact & { estimator: 'naive'; feature: string; index: number };

export const naive: Estimator<z.infer<typeof params>, NaiveArtifact> = {
  needsSource: true,
  params,

  fit({ params: { feature }, features }) {
    const chosen = feature ?? features[0] ?? '';
    const index = features.indexOf(chosen);
    if (index < 0) throw new Error(`params.feature "${chosen}" is not one of source.features`);
    return { estimator: 'naive', features, feature: chosen, index, interval: { lower: 0, upper: 0 } };
  },

  predict(artifact, x) {
    return x[artifact.index] ?? Number.NaN;
  },

  predictSql(artifact, columns) {
    return columns[artifact.index] ?? 'NULL';
  },
};
