import { describeTable, isNumericType, isTimeType } from '../db/catalog.ts';
import type { Db } from '../db/database.ts';
import { type FieldIssue, ValidationError } from '../errors.ts';
import { type ModelSpec, parseSpec, sourceSchema } from './spec.ts';

const sourceFields = sourceSchema.shape;

/**
 * Validates a spec in full, shape and source alike, and throws one ValidationError listing every
 * problem, so a mistake is caught when the spec is applied rather than at 2 a.m.
 */
export async function validateSpec(
  db: Db,
  input: unknown,
  /** where the spec sits in what was sent (`body` for the API), said before each path */
  at?: string,
): Promise<ModelSpec> {
  const { spec, issues } = parseSpec(input);
  // Each well-formed part of the source is checked against the database, whatever is wrong
  // elsewhere, so that a bad cron, a repeated feature and an unknown column are said together.
  const parts = checkableParts((input as { source?: unknown } | null)?.source);
  const sourceIssues = parts === undefined ? [] : await checkSource(db, parts);
  const all = [...issues, ...sourceIssues];
  if (spec === undefined || all.length > 0) {
    throw new ValidationError(
      at === undefined
        ? all
        : all.map((issue) => ({ ...issue, path: issue.path === '' ? at : `${at}.${issue.path}` })),
    );
  }
  return spec;
}

/** The columns of a source that can be looked up: each named well, with its place in the spec. */
type SourceParts = {
  table: string;
  key?: string | undefined;
  time?: string | undefined;
  target?: string | undefined;
  features: { index: number; name: string }[];
};

/** The parts of a source well-formed enough to look up, or undefined without a table to look in. */
function checkableParts(raw: unknown): SourceParts | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const fields = raw as Record<string, unknown>;
  const table = sourceFields.table.safeParse(fields.table);
  if (!table.success) return undefined;
  const column = (name: 'key' | 'time' | 'target') => {
    const parsed = sourceFields[name].safeParse(fields[name]);
    return parsed.success ? parsed.data : undefined;
  };
  const features = Array.isArray(fields.features) ? (fields.features as unknown[]) : [];
  return {
    table: table.data,
    key: column('key'),
    time: column('time'),
    target: column('target'),
    features: features.flatMap((feature, index) => {
      const parsed = sourceFields.key.safeParse(feature);
      return parsed.success ? [{ index, name: parsed.data }] : [];
    }),
  };
}

async function checkSource(db: Db, source: SourceParts): Promise<FieldIssue[]> {
  const table = await describeTable(db, source.table);
  if (table === undefined) {
    return [{ path: 'source.table', message: `table "${source.table}" does not exist` }];
  }
  // a refresh would read the one created under the exact name; whoever wrote the spec may mean the other
  if (table.alsoNames !== undefined) {
    return [
      {
        path: 'source.table',
        message: `"${source.table}" names both ${table.qualifiedName} and ${table.alsoNames}; rename one of them`,
      },
    ];
  }
  const issues: FieldIssue[] = [];
  const column = (path: string, name: string, expect?: { test: (type: string) => boolean; what: string }) => {
    const found = table.columns.get(name);
    if (found === undefined) {
      issues.push({ path, message: `column "${name}" does not exist in ${table.qualifiedName}` });
    } else if (expect !== undefined && !expect.test(found.type)) {
      issues.push({ path, message: `column "${name}" is ${found.type}; it must be ${expect.what}` });
    }
  };
  const numeric = { test: isNumericType, what: 'numeric (integer, real, double precision or numeric)' };

  if (source.key !== undefined) column('source.key', source.key);
  if (source.time !== undefined) {
    column('source.time', source.time, { test: isTimeType, what: 'a date or timestamp' });
  }
  if (source.target !== undefined) column('source.target', source.target, numeric);
  // a repeated feature is said once, by the shape
  const seen = new Set<string>();
  for (const { index, name } of source.features) {
    if (!seen.has(name)) column(`source.features.${index}`, name, numeric);
    seen.add(name);
  }
  if (source.target !== undefined && seen.has(source.target)) {
    issues.push({
      path: 'source.target',
      message: `"${source.target}" is also a feature; the target must not be`,
    });
  }
  return issues;
}
