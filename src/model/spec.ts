import '../zod-messages.ts';
import { z } from 'zod';
import { type FieldIssue, fieldIssues } from '../errors.ts';
import { plainText } from '../plain-text.ts';
import { estimatorNames, estimators, isEstimatorName } from './estimators/registry.ts';
import { cronProblem, isTimeZone } from './schedule.ts';

/** A model spec: the one schema for what `models apply` and `PUT /v1/models/:model` accept. */

export const modelNamePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const modelName = z
  .string()
  .regex(
    modelNamePattern,
    'must be 1 to 63 characters of a-z, 0-9, "_" and "-", starting with a letter or digit',
  );

const identifier = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const columnName = z.string().regex(identifier, 'must be a plain column name (letters, digits, "_")');
const tableName = z
  .string()
  .regex(
    /^(?:[A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$/,
    'must be a table name, optionally schema-qualified ("schema.table")',
  );

export const sourceSchema = z
  .object({
    table: tableName,
    key: columnName,
    time: columnName,
    target: columnName,
    features: z
      .array(columnName)
      .min(1, 'must list at least one feature')
      .max(64, 'must list at most 64 features')
      .refine((features) => new Set(features).size === features.length, 'must not repeat a feature'),
  })
  .strict();

const schedule = z
  .object({
    cron: z
      .string()
      .default('0 2 * * *')
      .superRefine((cron, ctx) => {
        const problem = cronProblem(cron);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    timezone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, {
        error: (issue) =>
          `unknown time zone "${String(issue.input)}" (use an IANA name such as "UTC" or "Europe/Paris")`,
      }),
    paused: z.boolean().default(false),
  })
  .strict();

const share = z.number().finite().min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1');
const nonNegative = z.number().finite().min(0, 'must be 0 or more');

export const driftPolicy = z
  .object({
    maxPsi: nonNegative.default(0.2),
    maxKs: share.default(0.1),
    maxWassersteinNorm: nonNegative.default(0.1),
    maxChangedShare: share.default(0.5),
    changeTolerance: nonNegative.default(0.1),
    maxRemovedShare: share.default(0.05),
    minRows: z.number().int('must be a whole number').min(0, 'must be 0 or more').default(1),
  })
  .strict();

/**
 * Input checks before training (src/drift/input-checks.ts): the source's newest slice against the
 * one the published version scored. Every threshold is optional: a check without one is reported
 * in the lineage and never fails a run.
 */
export const inputChecksPolicy = z
  .object({
    /** the newest slice's rows may fall by at most this share of the published slice's */
    maxRowDrop: share.optional(),
    /** the share of the published slice's keys that may be absent from the newest slice */
    maxMissingKeys: share.optional(),
    /** per feature in the newest slice, and for the target over the training window */
    maxNullShare: share.optional(),
    /** per feature, with the published slice as A: the drift report's PSI */
    maxFeaturePsi: nonNegative.optional(),
  })
  .strict();

/** The most shards a run may be split into (one child job and one table each). */
export const MAX_SHARDS = 64;
const SHARDS_RULE = `must be a whole number from 1 to ${MAX_SHARDS}, or "auto"`;

/**
 * How many child jobs score a run's keys (src/pipeline/shards.ts): a whole number, or `auto` to
 * pick from the source's keys when the run starts.
 */
const shards = z
  .union([z.literal('auto'), z.number().int(SHARDS_RULE).min(1, SHARDS_RULE).max(MAX_SHARDS, SHARDS_RULE)], {
    error: SHARDS_RULE,
  })
  .default(1);

const webhookUrl = z.string().refine((value) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be an http or https URL');

export const modelSpecSchema = z
  .object({
    name: modelName,
    description: plainText(2000, { lines: true }).default(''),
    estimator: z.string().refine(isEstimatorName, {
      error: (issue) => `unknown estimator "${String(issue.input)}"; known: ${estimatorNames.join(', ')}`,
    }),
    params: z.record(z.string(), z.unknown()).default({}),
    source: sourceSchema.optional(),
    trainWindowDays: z.number().int('must be a whole number').min(1).max(3650).default(90),
    holdoutDays: z.number().int('must be a whole number').min(0).max(365).default(7),
    schedule: schedule.default({ cron: '0 2 * * *', timezone: 'UTC', paused: false }),
    drift: driftPolicy.default(driftPolicy.parse({})),
    inputs: inputChecksPolicy.optional(),
    alerts: z.object({ webhookUrl: webhookUrl.optional() }).strict().default({}),
    retention: z
      .object({ keepVersions: z.number().int('must be a whole number').min(1).max(10_000).default(30) })
      .strict()
      .default({ keepVersions: 30 }),
    maxAgeHours: z.number().finite().positive('must be more than 0').optional(),
    shards,
  })
  .strict()
  .superRefine((spec, ctx) => {
    const problem = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });

    if (isEstimatorName(spec.estimator)) {
      const estimator = estimators[spec.estimator];
      const params = estimator.params.safeParse(spec.params);
      if (!params.success) {
        // zod's own issues, under params: parseSpec's fieldIssues says them as every edge does
        // (an unknown parameter at its own path)
        for (const issue of params.error.issues) ctx.addIssue({ ...issue, path: ['params', ...issue.path] });
      }
      if (estimator.needsSource && spec.source === undefined) {
        problem(['source'], `is required by the ${spec.estimator} estimator`);
      }
      if (spec.estimator === 'naive' && spec.source !== undefined && params.success) {
        const feature = (params.data as { feature?: string }).feature;
        if (feature !== undefined && !spec.source.features.includes(feature)) {
          problem(['params', 'feature'], `"${feature}" is not one of source.features`);
        }
      }
    }
    if (spec.holdoutDays >= spec.trainWindowDays) {
      problem(['holdoutDays'], `must be less than trainWindowDays (${spec.trainWindowDays})`);
    }
  });

export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type DriftPolicy = z.infer<typeof driftPolicy>;
export type InputChecksPolicy = z.infer<typeof inputChecksPolicy>;

/** Checks a spec's shape (no database): the parsed spec with every default filled in, or every issue. */
export function parseSpec(
  input: unknown,
): { spec: ModelSpec; issues: [] } | { spec: undefined; issues: FieldIssue[] } {
  const parsed = modelSpecSchema.safeParse(input);
  if (parsed.success) {
    const spec = parsed.data;
    const estimator = estimators[spec.estimator as keyof typeof estimators];
    return { spec: { ...spec, params: estimator.params.parse(spec.params) }, issues: [] };
  }
  return {
    spec: undefined,
    issues: fieldIssues(parsed.error.issues),
  };
}
