import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { driftReportSchema, lineageSchema, metricsSchema, realizedSchema } from '../db/json-columns.ts';
import { RUN_PHASES, RUN_STATES, SHARD_STATES, VERSION_STATES } from '../db/types.ts';
import { z } from '../zod-openapi.ts';

/**
 * The JSON the API answers with, as zod schemas: views (src/api/views.ts) are typed by them, and
 * the OpenAPI document describes them, so a field cannot be added to one and not the other.
 */

const timestamp = z.string().describe('ISO 8601 time, UTC, ending in Z');
const nullableNumber = z.number().nullable();

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.looseObject({ path: z.string(), message: z.string() }))
      .optional()
      .describe('every bad field, named by its path (`query.version`, `body.keys.3`, `line 4.value`)'),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details' });

export const Estimate = z
  .object({
    model: z.string(),
    version: z.number().int(),
    key: z.string(),
    value: z.number(),
    lower: nullableNumber,
    upper: nullableNumber,
    asOf: timestamp.nullable().describe('the source time of the row the estimate scored'),
    stale: z
      .boolean()
      .describe(
        "its version's data is older than the model's maxAgeHours (never for a pinned or closed-interval answer)",
      ),
  })
  .openapi('Estimate');

export const Batch = z
  .object({
    model: z.string(),
    version: z.number().int(),
    stale: z.boolean().describe("its version's data is older than the model's maxAgeHours"),
    estimates: z.array(Estimate).describe('in request order, found keys only'),
    missing: z.array(z.string()),
  })
  .openapi('EstimateBatch');

export const VersionSummary = z
  .object({
    model: z.string(),
    version: z.number().int(),
    state: z.enum(VERSION_STATES),
    rowCount: z.number().int().nullable(),
    checksum: z.string().nullable(),
    createdAt: timestamp,
    publishedAt: timestamp.nullable(),
    // unions with null, not .nullable(): the null must not leak into the named component
    metrics: z.union([metricsSchema, z.null()]).describe('holdout metrics; null for imports'),
    realized: z
      .union([realizedSchema, z.null()])
      .describe('how its estimates fared against the actuals, once they arrived'),
  })
  .openapi('VersionSummary');

export const Pin = z
  .object({
    consumer: z.string().describe('who depends on the version'),
    version: z.number().int(),
    expiresAt: timestamp.nullable().describe('null: until unpinned'),
    note: z.string().nullable(),
    createdAt: timestamp.describe('when it was pinned (or last moved)'),
    expired: z.boolean().describe('past its expiry: it no longer keeps the version from retention'),
  })
  .openapi('Pin');

export const VersionDetail = VersionSummary.extend({
  pinnedBy: z
    .array(Pin.omit({ version: true, expired: true }))
    .describe('the unexpired pins on it: retention keeps it while there are any'),
  lineage: lineageSchema,
  drift: z.union([driftReportSchema, z.null()]).describe('the report the drift gate judged it by'),
}).openapi('VersionDetail');

export const Run = z
  .object({
    id: z.string(),
    model: z.string(),
    slot: z.string(),
    trigger: z.string(),
    jobId: z.string().nullable(),
    state: z.enum(RUN_STATES),
    phase: z.enum(RUN_PHASES),
    progress: z.number(),
    version: z.number().int().nullable(),
    error: z.string().nullable(),
    attempts: z.number().int(),
    forceInputs: z.boolean().describe('the run goes past failed input checks (`--force-inputs`)'),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
  })
  .openapi('Run');

export const RunShard = z
  .object({
    index: z.number().int().describe('0 to shards − 1: the keys whose hash falls in this share'),
    state: z.enum(SHARD_STATES),
    rows: z.number().int().describe('estimates written (scored so far while it runs)'),
    worker: z.string().nullable().describe('host:pid of the worker process that ran it last'),
  })
  .openapi('RunShard');

export const RunDetail = Run.extend({
  shards: z
    .array(RunShard)
    .describe(
      "the child jobs of a sharded run (the spec's `shards`), by index; empty for a run of one shard",
    ),
}).openapi('RunDetail');

const schedule = z.object({ cron: z.string(), timezone: z.string(), paused: z.boolean() });

export const ModelListItem = z
  .object({
    name: z.string(),
    description: z.string(),
    estimator: z.string(),
    publishedVersion: z.number().int().nullable(),
    schedule,
    updatedAt: timestamp,
  })
  .openapi('ModelListItem');

export const Model = z
  .object({
    name: z.string(),
    description: z.string(),
    estimator: z.string(),
    publishedVersion: z.number().int().nullable(),
    // a union, not .nullable(): the null must not leak into VersionSummary's own component
    published: z.union([VersionSummary, z.null()]),
    spec: z.record(z.string(), z.unknown()),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Model');

export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last'),
  });

export const Publication = z
  .object({
    version: z.number().int(),
    validFrom: timestamp,
    validTo: timestamp.nullable().describe('null while it is the published version'),
    actor: z.string().describe('who published, approved or rolled back to it'),
    reason: z.string().nullable(),
  })
  .openapi('Publication');

export const RunQueued = z.object({ runId: z.string(), slot: z.string(), state: z.enum(RUN_STATES) });

const readiness = z.object({
  status: z.string(),
  checks: z.object({
    postgres: z.string(),
    redis: z.string(),
    replica: z
      .string()
      .optional()
      .describe(
        'the read replica (DATABASE_READ_URL), when there is one: `ok`, or why reads all go to the primary (it does not fail readiness)',
      ),
  }),
  stale: z
    .array(z.string())
    .describe(
      "models whose published version's data is older than their maxAgeHours (they do not fail readiness)",
    ),
});
export const Readiness = readiness.openapi('Readiness');

/** Headers the document names and answers carry. */
export const headers = {
  retryAfter: {
    description: 'seconds to wait before trying again',
    schema: { type: 'integer' as const, minimum: 1 },
  },
  etag: {
    description: 'a strong validator of the answer; send it back as If-None-Match',
    schema: { type: 'string' as const },
  },
  estimateVersion: {
    description: 'the version the answer comes from (the per-model number)',
    schema: { type: 'integer' as const, minimum: 1 },
  },
  cacheControl: {
    description: '`public, max-age=31536000, immutable` for a pinned version, `no-cache` for latest',
    schema: { type: 'string' as const },
  },
  estimateStale: {
    description: "`true` when the version's data is older than the model's maxAgeHours; absent otherwise",
    schema: { type: 'string' as const, enum: ['true'] },
  },
  requestId: {
    description: 'the id of the request, in its log line (sent back when given)',
    schema: { type: 'string' as const },
  },
};

export function json(
  schema: z.ZodType,
  description: string,
  withHeaders: ResponseConfig['headers'] = {},
): ResponseConfig {
  return { description, headers: withHeaders, content: { 'application/json': { schema } } };
}

export function problem(description: string, withHeaders: ResponseConfig['headers'] = {}): ResponseConfig {
  return { description, headers: withHeaders, content: { 'application/problem+json': { schema: Problem } } };
}
