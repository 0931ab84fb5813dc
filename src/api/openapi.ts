import {
  extendZodWithOpenApi,
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { RUN_PHASES, RUN_STATES, VERSION_STATES } from '../db/types.ts';
import { modelSpecSchema } from '../model/spec.ts';
import { codeVersion } from '../version.ts';
import { keyParams, modelParam, versionNumberParams, versionParams } from './params.ts';
import { diffQuery } from './routes/drift.ts';
import { batchBody, estimateQuery } from './routes/estimates.ts';
import { runListQuery, runParams } from './routes/runs.ts';
import { snapshotQuery } from './routes/snapshots.ts';
import { decisionBody, versionListQuery } from './routes/versions.ts';

extendZodWithOpenApi(z);

/**
 * The OpenAPI 3.1 document, generated from the zod schemas that validate each request (so it
 * cannot drift from the code) and from the response schemas below, which tests check real
 * answers against.
 */

const state = z.enum(VERSION_STATES);
const nullableNumber = z.number().nullable();
const timestamp = z.string().describe('ISO 8601 time, UTC');

export const responses = {
  Problem: z
    .object({
      type: z.string(),
      title: z.string(),
      status: z.number().int(),
      detail: z.string(),
      errors: z.array(z.object({ path: z.string(), message: z.string() }).passthrough()).optional(),
    })
    .openapi('Problem', { description: 'RFC 9457 problem details' }),
  Estimate: z
    .object({
      model: z.string(),
      version: z.number().int(),
      key: z.string(),
      value: z.number(),
      lower: nullableNumber,
      upper: nullableNumber,
      asOf: timestamp.nullable(),
    })
    .openapi('Estimate'),
  VersionSummary: z
    .object({
      model: z.string(),
      version: z.number().int(),
      state,
      rowCount: z.number().int().nullable(),
      checksum: z.string().nullable(),
      createdAt: timestamp,
      publishedAt: timestamp.nullable(),
      metrics: z.record(z.string(), z.unknown()).nullable(),
    })
    .openapi('VersionSummary'),
  Run: z
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
      createdAt: timestamp,
      startedAt: timestamp.nullable(),
      finishedAt: timestamp.nullable(),
    })
    .openapi('Run'),
};

const versionRef = z.object({ model: z.string(), version: z.number().int() });
const driftSide = z.object({
  count: z.number().int(),
  mean: nullableNumber,
  std: nullableNumber,
  quantiles: z
    .record(z.string(), nullableNumber)
    .describe('keyed "0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"'),
});
const mover = z.object({ key: z.string(), a: z.number(), b: z.number(), change: z.number() });
const pair = <T extends z.ZodType>(schema: T) =>
  z.object({ baseline: schema.nullable(), candidate: schema.nullable() });
const DriftReport = z
  .object({
    psi: nullableNumber,
    psiEdges: z.array(z.number()),
    ksStatistic: nullableNumber,
    ksPValue: nullableNumber,
    wasserstein: nullableNumber,
    wassersteinNorm: nullableNumber,
    meanAbsChange: nullableNumber,
    medianAbsRelChange: nullableNumber,
    changedShare: nullableNumber,
    spearman: nullableNumber,
    coverage: z.object({ both: z.number().int(), removed: z.number().int(), added: z.number().int() }),
    a: driftSide,
    b: driftSide,
    baseline: versionRef.nullable().describe('null for a first version: nothing to compare with'),
    candidate: versionRef,
    topMovers: z.object({ up: z.array(mover), down: z.array(mover) }),
    artifact: pair(z.unknown()),
    metrics: pair(z.record(z.string(), z.unknown())).extend({ delta: z.record(z.string(), z.number()) }),
    policy: z.record(z.string(), z.number()),
    verdict: z.object({
      passed: z.boolean(),
      checks: z.array(
        z.object({ name: z.string(), threshold: z.number(), observed: nullableNumber, passed: z.boolean() }),
      ),
    }),
    computedAt: timestamp,
  })
  .openapi('DriftReport');

const VersionDetail = responses.VersionSummary.extend({
  lineage: z.record(z.string(), z.unknown()),
  drift: z.record(z.string(), z.unknown()).nullable(),
  realized: z.record(z.string(), z.unknown()).nullable(),
}).openapi('VersionDetail');
const ModelListItem = z
  .object({
    name: z.string(),
    description: z.string(),
    estimator: z.string(),
    publishedVersion: z.number().int().nullable(),
    schedule: z.object({ cron: z.string(), timezone: z.string(), paused: z.boolean() }),
    updatedAt: timestamp,
  })
  .openapi('ModelListItem');
const Model = z
  .object({
    name: z.string(),
    description: z.string(),
    estimator: z.string(),
    publishedVersion: z.number().int().nullable(),
    published: responses.VersionSummary.nullable(),
    spec: z.record(z.string(), z.unknown()),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Model');

const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: responses.Problem } },
});
const common = {
  400: problem('invalid input: every bad field is named'),
  401: problem('no or bad API key'),
  404: problem('unknown model, version or key'),
};

const paths: RouteConfig[] = [
  {
    method: 'get',
    path: '/v1/models',
    summary: 'List models with their published version',
    responses: { 200: json(z.object({ items: z.array(ModelListItem) }), 'the models'), 401: common[401] },
  },
  {
    method: 'get',
    path: '/v1/models/{model}',
    summary: 'A model: its spec and published version',
    request: { params: modelParam },
    responses: { 200: json(Model, 'the model'), ...common },
  },
  {
    method: 'put',
    path: '/v1/models/{model}',
    summary: 'Create or update a model spec (validated in full against the database)',
    request: { params: modelParam, body: { content: { 'application/json': { schema: modelSpecSchema } } } },
    responses: {
      200: json(Model, 'updated'),
      201: json(Model, 'created'),
      ...common,
      403: problem('needs admin'),
      415: problem('not JSON'),
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/versions',
    summary: 'Versions, newest first',
    request: { params: modelParam, query: versionListQuery },
    responses: {
      200: json(
        z.object({ items: z.array(responses.VersionSummary), nextCursor: z.string().nullable() }),
        'a page of versions',
      ),
      ...common,
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/versions/{version}',
    summary: 'One version with its whole lineage; version is a number or "latest"',
    request: { params: versionParams },
    responses: { 200: json(VersionDetail, 'the version'), ...common },
  },
  {
    method: 'post',
    path: '/v1/models/{model}/versions',
    summary: 'Import a version of an external model from a CSV body (key,value[,lower,upper])',
    request: { params: modelParam, body: { content: { 'text/csv': { schema: z.string() } } } },
    responses: {
      201: json(responses.VersionSummary, 'imported: published, or held by the gate'),
      ...common,
      403: problem('needs admin'),
      409: problem('not an external model'),
      413: problem('larger than ALMANAC_MAX_IMPORT_BYTES'),
      415: problem('not text/csv'),
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/estimates/{key}',
    summary: 'One estimate, from the published version or a pinned one',
    request: { params: keyParams, query: estimateQuery },
    responses: {
      200: json(responses.Estimate, 'the estimate'),
      304: { description: 'not modified' },
      ...common,
      410: problem('pruned version'),
    },
  },
  {
    method: 'post',
    path: '/v1/models/{model}/estimates/batch',
    summary: 'Up to 10,000 keys, all from one version, in request order',
    request: { params: modelParam, body: { content: { 'application/json': { schema: batchBody } } } },
    responses: {
      200: json(
        z.object({
          model: z.string(),
          version: z.number().int(),
          estimates: z.array(responses.Estimate),
          missing: z.array(z.string()),
        }),
        'the estimates found, and the keys missing',
      ),
      ...common,
      410: problem('pruned version'),
      413: problem('body over 4 MB'),
      415: problem('not JSON'),
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/versions/{version}/snapshot',
    summary: 'A whole version, streamed as CSV, NDJSON or Parquet',
    request: { params: versionParams, query: snapshotQuery },
    responses: {
      200: {
        description: 'the rows in key order',
        content: {
          'text/csv': { schema: z.string() },
          'application/x-ndjson': { schema: z.string() },
          'application/vnd.apache.parquet': { schema: z.string() },
        },
      },
      ...common,
      410: problem('pruned version'),
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/versions/{version}/drift',
    summary: 'The drift report the gate stored for a version, against the version published then',
    request: { params: versionParams },
    responses: { 200: json(DriftReport, 'the stored report'), ...common },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/diff',
    summary: "The drift report between any two versions under the model's policy, or their per-key changes",
    request: { params: modelParam, query: diffQuery },
    responses: {
      200: {
        description: 'the report (JSON), or every key with its change (CSV, key order)',
        content: {
          'application/json': { schema: DriftReport },
          'text/csv': {
            schema: z
              .string()
              .describe('key,a,b,change,relative_change,status (changed, unchanged, added, removed)'),
          },
        },
      },
      ...common,
      410: problem('pruned version'),
    },
  },
  {
    method: 'get',
    path: '/v1/models/{model}/runs',
    summary: 'Runs, newest first',
    request: { params: modelParam, query: runListQuery },
    responses: {
      200: json(
        z.object({ items: z.array(responses.Run), nextCursor: z.string().nullable() }),
        'a page of runs',
      ),
      ...common,
    },
  },
  {
    method: 'post',
    path: '/v1/models/{model}/runs',
    summary: 'Request a refresh now',
    request: { params: modelParam },
    responses: {
      202: json(z.object({ runId: z.string(), slot: z.string(), state: z.string() }), 'queued'),
      ...common,
      403: problem('needs admin'),
      409: problem('an external model'),
      503: problem('the job queue is down'),
    },
  },
  {
    method: 'get',
    path: '/v1/runs/{runId}',
    summary: 'A run: state, phase, progress, version produced',
    request: { params: runParams },
    responses: { 200: json(responses.Run, 'the run'), ...common },
  },
  ...(['publish', 'reject'] as const).map(
    (action): RouteConfig => ({
      method: 'post',
      path: `/v1/models/{model}/versions/{version}/${action}`,
      summary:
        action === 'publish'
          ? 'Approve a held version or roll back to a superseded one'
          : 'Reject a held version',
      request: {
        params: versionNumberParams,
        body: { content: { 'application/json': { schema: decisionBody } } },
      },
      responses: {
        200: json(responses.VersionSummary, 'done'),
        ...common,
        403: problem('needs admin'),
        409: problem('illegal state change'),
        410: problem('pruned version'),
      },
    }),
  ),
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    responses: { 200: json(z.object({ status: z.literal('ok') }), 'alive') },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres and Redis',
    responses: {
      200: json(
        z.object({ status: z.string(), checks: z.object({ postgres: z.string(), redis: z.string() }) }),
        'ready',
      ),
      503: json(
        z.object({ status: z.string(), checks: z.object({ postgres: z.string(), redis: z.string() }) }),
        'a dependency is down',
      ),
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: {
      200: { description: 'text exposition format', content: { 'text/plain': { schema: z.string() } } },
    },
  },
];

let document: object | undefined;

export function openApiDocument(): object {
  if (document === undefined) {
    const registry = new OpenAPIRegistry();
    registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
    for (const path of paths) {
      const open = ['/healthz', '/readyz', '/metrics'].includes(path.path);
      registry.registerPath(open ? path : { ...path, security: [{ bearer: [] }] });
    }
    document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'Almanac',
        version: codeVersion,
        description: 'Estimates as a service: versioned, drift-checked estimate tables served by key.',
      },
    });
  }
  return document;
}
