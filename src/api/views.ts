import type { z } from 'zod';
import type { Model as ModelRow } from '../db/models.ts';
import type { Pin as PinRow } from '../db/pins.ts';
import type { Publication as PublicationRow } from '../db/publications.ts';
import type { RunShard as RunShardRow } from '../db/run-shards.ts';
import type { Run as RunRow } from '../db/runs.ts';
import type { Version } from '../db/versions.ts';
import type {
  Model,
  ModelListItem,
  Pin,
  Publication,
  Run,
  RunDetail,
  VersionDetail,
  VersionSummary,
} from './responses.ts';

/** The JSON shapes the API answers with, typed by the schemas the document shows (src/api/responses.ts). */

export function versionSummary(version: Version): z.infer<typeof VersionSummary> {
  return {
    model: version.model,
    version: version.number,
    state: version.state,
    rowCount: version.rowCount,
    checksum: version.checksum,
    createdAt: version.createdAt.toISOString(),
    publishedAt: version.publishedAt?.toISOString() ?? null,
    metrics: version.metrics,
    realized: version.realized,
  };
}

/** A version with its lineage, drift report and the unexpired pins that keep it (`pinnedBy`). */
export function versionDetail(version: Version, pinnedBy: readonly PinRow[]): z.infer<typeof VersionDetail> {
  return {
    ...versionSummary(version),
    pinnedBy: pinnedBy.map((pin) => ({
      consumer: pin.consumer,
      expiresAt: pin.expiresAt?.toISOString() ?? null,
      note: pin.note,
      createdAt: pin.createdAt.toISOString(),
    })),
    lineage: version.lineage,
    drift: version.drift,
  };
}

export function modelListItem(model: ModelRow): z.infer<typeof ModelListItem> {
  return {
    name: model.name,
    description: model.spec.description,
    estimator: model.spec.estimator,
    publishedVersion: model.publishedVersion,
    schedule: model.spec.schedule,
    updatedAt: model.updatedAt.toISOString(),
  };
}

export function modelView(model: ModelRow, published: Version | undefined): z.infer<typeof Model> {
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

export function runView(run: RunRow): z.infer<typeof Run> {
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
    forceInputs: run.forceInputs,
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

/** A run with its shards, as `GET /v1/runs/:runId` answers it. */
export function runDetailView(run: RunRow, shards: readonly RunShardRow[]): z.infer<typeof RunDetail> {
  return {
    ...runView(run),
    shards: shards.map((shard) => ({
      index: shard.index,
      state: shard.state,
      rows: shard.rows,
      worker: shard.worker,
    })),
  };
}

export function publicationView(publication: PublicationRow): z.infer<typeof Publication> {
  return {
    version: publication.version,
    validFrom: publication.validFrom.toISOString(),
    validTo: publication.validTo?.toISOString() ?? null,
    actor: publication.actor,
    reason: publication.reason,
  };
}

export function pinView(pin: PinRow & { expired: boolean }): z.infer<typeof Pin> {
  return {
    consumer: pin.consumer,
    version: pin.version,
    expiresAt: pin.expiresAt?.toISOString() ?? null,
    note: pin.note,
    createdAt: pin.createdAt.toISOString(),
    expired: pin.expired,
  };
}
