import { estimatorFor } from '../model/estimators/registry.ts';
import { nextTick } from '../model/schedule.ts';
import type { ModelSpec } from '../model/spec.ts';

/** Whether the scheduler refreshes a model: one that trains from a source, and is not paused. */
export function isScheduled(spec: ModelSpec): boolean {
  return estimatorFor(spec.estimator).needsSource && !spec.schedule.paused;
}

/** When the scheduler refreshes a model next, if it does. */
export function nextRunOf(spec: ModelSpec, now: Date): Date | undefined {
  return isScheduled(spec) ? nextTick(spec.schedule, now) : undefined;
}
