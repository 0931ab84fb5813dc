import { z } from 'zod';
import type { Artifact, Estimator } from './types.ts';

/**
 * Estimates made elsewhere and imported (`almanac import`, `POST /v1/models/:model/versions`).
 * There is nothing to fit or predict here: asking is a programming error.
 */
export const external: Estimator<Record<string, never>, Artifact> = {
  needsSource: false,
  params: z.object({}).strict(),
  fit() {
    throw new Error('external estimates are imported, not fitted');
  },
  predict() {
    throw new Error('external estimates are imported, not predicted');
  },
  predictSql() {
    throw new Error('external estimates are imported, not predicted');
  },
};
