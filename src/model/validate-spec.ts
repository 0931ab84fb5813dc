import { describeTable, isNumericType, isTimeType } from '../db/catalog.ts';
import type { Db } from '../db/database.ts';
import { type FieldIssue, ValidationError } from '../errors.ts';
import { type ModelSpec, parseSpec, sourceSchema } from './spec.ts';

/**
 * Validates a spec in full, shape and source alike, and throws one ValidationError listing every
 * problem, so a mistake is caught when the spec is applied rather than at 2 a.m.
 */
export async function validateSpec(db: Db, input: unknown): Promise<ModelSpec> {
  const { spec, issues } = parseSpec(input);
  // The source is checked against the database whenever it is well-formed on its own, so that a
  // bad cron and an unknown column are reported together.
  const source = sourceSchema.safeParse((input as { source?: unknown } | null)?.source);
  const sourceIssues = source.success ? await checkSource(db, source.data) : [];
  const all = [...issues, ...sourceIssues];
  if (spec === undefined || all.length > 0) throw new ValidationError(all);
  return spec;
}

type Source = NonNullable<ModelSpec['source']>;

async function checkSource(db: Db, source: Source): Promise<FieldIssue[]> {
  const table = await describeTable(db, source.table);
  if (table === undefined) {
    return [{ path: 'source.table', message: `table "${source.table}" does not exist` }];
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

  column('source.key', source.key);
  column('source.time', source.time, { test: isTimeType, what: 'a date or timestamp' });
  column('source.target', source.target, numeric);
  source.features.forEach((feature, index) => {
    column(`source.features.${index}`, feature, numeric);
  });
  if (source.features.includes(source.target)) {
    issues.push({
      path: 'source.target',
      message: `"${source.target}" is also a feature; the target must not be`,
    });
  }
  return issues;
}
