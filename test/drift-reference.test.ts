import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../src/db/database.ts';
import { findVersion } from '../src/db/versions.ts';
import { driftFigures } from '../src/drift/figures.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { useDb, useTestDatabase } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';

type Case = { name: string; a: [string, number][]; b: [string, number][]; expected: Record<string, unknown> };
const reference = JSON.parse(
  readFileSync(new URL('./fixtures/drift-reference.json', import.meta.url), 'utf8'),
) as {
  changeTolerance: number;
  cases: Case[];
};

const database = useTestDatabase('drift_reference');
const db = useDb(database);
const versions = new Map<string, { a: string; b: string }>();

/** Every number of `actual` equals `expected` to 1e-9 relative (p-values to 1e-6 absolute). */
function mismatches(expected: unknown, actual: unknown, path: string): string[] {
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') return [`${path}: expected ${expected}, got ${String(actual)}`];
    const close = path.endsWith('ksPValue')
      ? Math.abs(actual - expected) <= 1e-6
      : Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(expected), 1e-12) ||
        Math.abs(actual - expected) < 1e-15;
    return close ? [] : [`${path}: expected ${expected}, got ${actual}`];
  }
  if (expected === null) return actual === null ? [] : [`${path}: expected null, got ${String(actual)}`];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      return [`${path}: expected ${expected.length} items`];
    return expected.flatMap((item, i) => mismatches(item, actual[i], `${path}.${i}`));
  }
  if (typeof expected === 'object') {
    return Object.entries(expected as Record<string, unknown>).flatMap(([key, value]) =>
      mismatches(value, (actual as Record<string, unknown> | undefined)?.[key], `${path}.${key}`),
    );
  }
  return expected === actual ? [] : [`${path}: expected ${String(expected)}, got ${String(actual)}`];
}

beforeAll(async () => {
  const pool = createPool(database.url, { max: 1 });
  try {
    for (const [i, entry] of reference.cases.entries()) {
      const model = `ref-${i}`;
      // a lenient policy: each case's second version must be published, not held
      await applySpec(db(), { name: model, estimator: 'external', drift: { maxRemovedShare: 1 } });
      const csv = (rows: [string, number][]) =>
        `key,value\n${rows.map(([key, value]) => `${key},${value}`).join('\n')}\n`;
      await importCsv({ db: db(), pool }, model, readableOf(csv(entry.a)), 'test');
      await importCsv({ db: db(), pool }, model, readableOf(csv(entry.b)), 'test');
      const [a, b] = await Promise.all([findVersion(db(), model, 1), findVersion(db(), model, 2)]);
      versions.set(entry.name, { a: a?.id ?? '', b: b?.id ?? '' });
    }
  } finally {
    await pool.end();
  }
}, 120_000);

describe('drift figures against the reference implementation (numpy/scipy)', () => {
  it.each(reference.cases.map((entry) => [entry.name, entry] as const))('%s', async (_name, entry) => {
    const ids = versions.get(entry.name);
    const figures = await driftFigures(db(), ids?.a ?? '', ids?.b ?? '', reference.changeTolerance);
    expect(mismatches(entry.expected, figures, 'report')).toEqual([]);
  });
});
