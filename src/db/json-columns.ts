import type { ModelSpec } from '../model/spec.ts';
import { driftPolicy, sourceSchema } from '../model/spec.ts';
import { z } from '../zod-openapi.ts';

/**
 * A stored spec (`models.spec`). It was parsed in full (validateSpec) before it was stored, with
 * every default filled in; it is not judged again on the way out, so that rules made stricter
 * later cannot make a model unreadable (a changed spec is checked when it is applied).
 */
export function storedSpec(value: unknown): ModelSpec {
  return value as ModelSpec;
}

/**
 * The JSON columns of `versions`, one schema each: `lineage`, `metrics`, `drift` and `realized`.
 * A row is parsed once, where it is read (src/db/versions.ts), and the rest of the code works
 * with these types; the OpenAPI document describes the same schemas. Objects are loose (keys
 * added later pass through) so that every row ever written still reads.
 */

const nullableNumber = z.number().nullable();
const numberRecord = z.record(z.string(), z.number());

/** Who approved, rejected or rolled back to a version, and why. */
export const decisionRecordSchema = z.looseObject({
  actor: z.string(),
  reason: z.string().nullable(),
  at: z.string().describe('ISO 8601 time, UTC'),
});

/** A fitted model: on its own it reproduces every prediction (src/model/estimators/). */
export const artifactSchema = z.looseObject({
  estimator: z.string(),
  features: z.array(z.string()),
  interval: z.object({ lower: z.number(), upper: z.number() }),
});

/** What lineage says of the spec a version was made with (the whole spec, as it was, is there). */
const recordedSpec = z.looseObject({
  name: z.string(),
  estimator: z.string(),
  params: z.record(z.string(), z.unknown()).optional(),
  source: sourceSchema.optional(),
});

/** A check of an input figure; `threshold` is null when the spec sets none (reported, never failing). */
const inputCheck = z.object({
  name: z
    .string()
    .describe('the figure checked, as its path in `inputs` (`nullShare.close`); `rowDrop` is −rowChange'),
  threshold: nullableNumber,
  observed: nullableNumber,
  passed: z.boolean(),
});

/**
 * What the input checks found before training (src/drift/input-checks.ts): the source's newest
 * slice (its rows at the newest time) against the slice the published version scored.
 */
export const inputChecksSchema = z
  .looseObject({
    time: z.string().nullable().describe("the newest slice's source time: the rows this run scores"),
    baseline: z
      .object({ version: z.number().int(), time: z.string(), rows: z.number().int() })
      .nullable()
      .describe(
        'the published version, the source time of the slice it scored and its rows; null for a first run',
      ),
    rows: z.number().int().describe("the newest slice's rows"),
    rowChange: nullableNumber.describe('(rows − baseline rows) / baseline rows: negative for a drop'),
    missingKeys: nullableNumber.describe("share of the baseline slice's keys absent from the newest slice"),
    missing: z
      .object({ count: z.number().int(), keys: z.array(z.string()) })
      .describe('those keys (scored from their older rows): how many, and the first 100 in key order'),
    nullShare: z
      .record(z.string(), nullableNumber)
      .describe(
        'per feature in the newest slice, and for the target over the training window: share null or not finite',
      ),
    psi: z
      .record(z.string(), nullableNumber)
      .describe("per feature: PSI of the newest slice's finite values against the baseline's"),
    checks: z.array(inputCheck),
    passed: z.boolean(),
    forced: z.boolean().describe('the run was asked to go on past failed checks (`--force-inputs`)'),
  })
  .openapi('InputChecks');

export const lineageSchema = z
  .looseObject({
    /** the model spec as it was when the version was made */
    spec: recordedSpec.optional(),
    estimator: z.string().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    /** `cron`, `cli:<user>`, `api:<key name>` */
    trigger: z.string().optional(),
    slot: z.string().optional(),
    runId: z.string().optional(),
    jobId: z.string().optional(),
    attempts: z.number().int().optional(),
    codeVersion: z.string().optional(),
    inputs: inputChecksSchema.optional(),
    training: z
      .looseObject({
        window: z.looseObject({ anchor: z.string(), trainWindowDays: z.number(), holdoutDays: z.number() }),
        rows: z.looseObject({ train: z.number(), holdout: z.number(), skipped: z.number() }),
      })
      .optional(),
    artifact: artifactSchema.optional(),
    /** milliseconds each phase took, and finer steps inside them */
    phasesMs: numberRecord.optional(),
    stepsMs: numberRecord.optional(),
    scoring: z.looseObject({ rows: z.number(), skippedRows: z.number(), skippedKeys: z.number() }).optional(),
    /** how many shards a refresh scored it in (README.md, Sharded scoring); 1: in the run's own job */
    shards: z.number().int().optional(),
    /** an import's file: rows read and whether it carried `as_of` */
    import: z.looseObject({ rows: z.number(), asOf: z.boolean() }).optional(),
    /** why the run failed for good */
    error: z.string().optional(),
    published: decisionRecordSchema.optional(),
    rejected: decisionRecordSchema.optional(),
  })
  .openapi('Lineage');

const errorFigures = z.looseObject({ mae: nullableNumber, rmse: nullableNumber, bias: nullableNumber });

/** Holdout metrics of a computed version, beside naive's on the same rows. */
export const metricsSchema = z
  .looseObject({
    holdout: errorFigures.extend({
      rows: z.number(),
      /** true when there was no holdout and the figures are measured on the training rows */
      inSample: z.boolean(),
    }),
    /** the naive forecast (last value of one feature) on the same rows: the floor to beat */
    naive: errorFigures.extend({ feature: z.string() }),
    /** mae / naive.mae: below 1 beats naive */
    maeRatioToNaive: nullableNumber,
  })
  .openapi('Metrics');

const versionRef = z.object({ model: z.string(), version: z.number().int() });
const side = z.object({
  count: z.number().int(),
  mean: nullableNumber,
  std: nullableNumber,
  quantiles: z
    .record(z.string(), nullableNumber)
    .describe('keyed "0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"'),
});
const mover = z.object({ key: z.string(), a: z.number(), b: z.number(), change: z.number() });
const check = z.object({
  name: z.string(),
  threshold: z.number(),
  observed: nullableNumber,
  passed: z.boolean(),
});
const pair = <T extends z.ZodType>(schema: T) =>
  z.object({ baseline: schema.nullable(), candidate: schema.nullable() });

/** The drift report of a candidate B against a baseline A (the figures are test/fixtures/README.md's). */
export const driftReportSchema = z
  .looseObject({
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
    a: side,
    b: side,
    psiCounts: z
      .object({ a: z.array(z.number().int()), b: z.array(z.number().int()) })
      .nullable()
      .optional()
      .describe("each version's count of keys in the PSI bins 0…9 (bin j: from edge j to edge j + 1)"),
    cdf: z
      .object({ a: z.array(z.number()), b: z.array(z.number()) })
      .optional()
      .describe(
        "each version's value at every percentile, 0 to 1 by 0.01 (101 points; empty without values)",
      ),
    ksAt: nullableNumber.optional().describe('the value at which the two CDFs are furthest apart'),
    baseline: versionRef.nullable().describe('null for a first version: nothing to compare with'),
    candidate: versionRef,
    topMovers: z.object({ up: z.array(mover), down: z.array(mover) }),
    artifact: pair(z.unknown()),
    metrics: pair(z.record(z.string(), z.unknown())).extend({ delta: numberRecord }),
    policy: driftPolicy,
    verdict: z.object({ passed: z.boolean(), checks: z.array(check) }),
    computedAt: z.string().describe('ISO 8601 time, UTC'),
  })
  .openapi('DriftReport');

/** How a version's estimates fared against the actuals that arrived after it was scored. */
export const realizedSchema = z
  .looseObject({
    /** estimates whose source row (key, as_of) now has a finite target */
    rows: z.number().int(),
    /** the version's keys, for the share of it that has been measured */
    keys: z.number().int(),
    mae: nullableNumber,
    rmse: nullableNumber,
    /** mean of actual − estimate: positive when the estimates ran low (training's convention) */
    bias: nullableNumber,
    /** share of measured rows with an interval whose actual fell within [lower, upper] */
    intervalCoverage: nullableNumber,
    intervalRows: z.number().int(),
    /** naive (the last value of one feature) on the same rows: the floor to beat */
    naiveFeature: z.string().nullable(),
    naiveMae: nullableNumber,
    maeRatioToNaive: nullableNumber,
    asOf: z.object({ from: z.string().nullable(), to: z.string().nullable() }),
    evaluatedAt: z.string(),
  })
  .openapi('RealizedAccuracy');

const realizedFigures = realizedSchema.omit({ keys: true, evaluatedAt: true });

export type DecisionRecord = z.infer<typeof decisionRecordSchema>;
export type Lineage = z.infer<typeof lineageSchema>;
export type InputChecks = z.infer<typeof inputChecksSchema>;
export type InputCheck = z.infer<typeof inputCheck>;
export type Metrics = z.infer<typeof metricsSchema>;
export type DriftReport = z.infer<typeof driftReportSchema>;
export type RealizedAccuracy = z.infer<typeof realizedSchema>;
/** What the join of a version with its actuals measures (the rest is added by the caller). */
export type RealizedFigures = z.infer<typeof realizedFigures>;
