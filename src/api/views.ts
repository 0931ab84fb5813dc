import type { Model } from '../db/models.ts';
import type { Run } from '../db/runs.ts';
import type { Version } from '../db/versions.ts';

/** The JSON shapes the API answers with, in one place. */

export function versionSummary(version: Version) {
  return {
    model: version.model,
    version: version.number,
    state: version.state,
    rowCount: version.rowCount,
    checksum: version.checksum,
    createdAt: version.createdAt.toISOString(),
    publishedAt: version.publishedAt?.toISOString() ?? null,
    metrics: version.metrics,
  };
}

export function versionDetail(version: Version) {
  return {
    ...versionSummary(version),
    lineage: version.lineage,
    drift: version.drift,
    realized: version.realized,
  };
}

export function modelView(model: Model, published: Version | undefined) {
  return {
    name: model.name,
    description: model.spec.description,
    estimator: model.spec.estimator,
    publishedVersion: model.publishedVersion,
    published: published === undefined ? null : versionSummary(published),
    spec: model.spec,
    createdAt: model.createdAt.toISOString(),
    updatedAt: model.updatedAt.toISOString(),
  };
}

export function runView(run: Run) {
  return {
    id: run.id,
    model: run.model,
    slot: run.slot,
    trigger: run.trigger,
    jobId: run.jobId,
    state: run.state,
    phase: run.phase,
    progress: run.progress,
    version: run.version,
    error: run.error,
    attempts: run.attempts,
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}
