import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { findVersion } from '../src/db/versions.ts';
import { resolveDiff } from '../src/drift/diff.ts';
import { driftFigures } from '../src/drift/figures.ts';
import { type DriftReport, driftReport } from '../src/drift/report.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, lenientDrift } from './helpers/pipeline.ts';

type Case = { name: string; a: [string, number][]; b: [string, number][]; expected: Record<string, unknown> };
const reference = JSON.parse(
  readFileSync(new URL('./fixtures/drift-reference.json', import.meta.url), 'utf8'),
) as {
  changeTolerance: number;
  cases: Case[];
};

const database = useTestDatabase('drift_reference');
const { db, runtime } = useConnections(database);
const stored = new Map<string, unknown>();

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
  for (const [i, entry] of reference.cases.entries()) {
    const model = `ref-${i}`;
    // a lenient policy: each case's second version is published, not held
    await applySpec(db(), {
      name: model,
      estimator: 'external',
      drift: { ...lenientDrift, maxRemovedShare: 1, changeTolerance: reference.changeTolerance },
    });
    const csv = (rows: [string, number][]) =>
      `key,value\n${rows.map(([key, value]) => `${key},${value}`).join('\n')}\n`;
    await importCsv(runtime(), model, readableOf(csv(entry.a)), 'test');
    await importCsv(runtime(), model, readableOf(csv(entry.b)), 'test');
    const b = await findVersion(db(), model, 2);
    expect(b?.state).toBe('published');
    stored.set(entry.name, b?.drift);
  }
}, 120_000);

const cases = reference.cases.map((entry, i) => [entry.name, entry, `ref-${i}`] as const);

describe('drift figures against the reference implementation (numpy/scipy)', () => {
  it.each(cases)('%s: the report the gate stored when it published B', (_name, entry) => {
    expect(mismatches(entry.expected, stored.get(entry.name), 'report')).toEqual([]);
  });

  it.each(cases)('%s: the report of a diff between A and B', async (_name, entry, model) => {
    const diff = await resolveDiff(db(), model, 1, 2);
    const report = await driftReport(db(), diff.from, diff.to, diff.policy);
    expect(mismatches(entry.expected, report, 'report')).toEqual([]);
  });
});

/** numpy's linear-interpolation percentile of sorted values. */
const percentile = (sorted: number[], q: number) => {
  const p = q * (sorted.length - 1);
  const [lo, hi] = [Math.floor(p), Math.ceil(p)];
  const [a, b] = [sorted[lo] ?? Number.NaN, sorted[hi] ?? Number.NaN];
  return lo === hi ? a : a + (p - lo) * (b - a);
};
const ecdf = (sorted: number[], x: number) => sorted.filter((v) => v <= x).length / sorted.length;

describe('what the charts draw, kept with the report', () => {
  it.each(cases)('%s: bin counts, CDF points and the place of the KS gap, by hand', (_name, entry) => {
    const report = stored.get(entry.name) as DriftReport;
    const [a, b] = [entry.a, entry.b].map((rows) => rows.map(([, value]) => value).sort((x, y) => x - y)) as [
      number[],
      number[],
    ];
    // a value's bin is how many edges are at or below it
    const bins = (values: number[]) =>
      Array.from(
        { length: 10 },
        (_, j) => values.filter((v) => report.psiEdges.filter((e) => e <= v).length === j).length,
      );
    expect(report.psiCounts).toEqual({ a: bins(a), b: bins(b) });
    expect(report.cdf?.a).toHaveLength(101);
    for (const [side, values] of [
      ['a', a],
      ['b', b],
    ] as const) {
      report.cdf?.[side].forEach((value, i) => {
        expect(value).toBeCloseTo(percentile(values, i / 100), 9);
      });
    }
    const at = report.ksAt ?? Number.NaN;
    expect(Math.abs(ecdf(a, at) - ecdf(b, at))).toBeCloseTo(report.ksStatistic ?? Number.NaN, 12);
  });
});

describe('figures that are undefined', () => {
  it('a constant baseline has no Spearman and no normalized Wasserstein, and the check on it fails', async () => {
    await applySpec(db(), { name: 'flat', estimator: 'external', drift: { maxRemovedShare: 1 } });
    await importCsv(runtime(), 'flat', readableOf('key,value\na,5\nb,5\nc,5\n'), 'test');
    const outcome = await importCsv(runtime(), 'flat', readableOf('key,value\na,5\nb,6\nc,7\n'), 'test');
    expect(outcome.state).toBe('held');
    const report = (await findVersion(db(), 'flat', 2))?.drift as DriftReport;
    expect(report).toMatchObject({ spearman: null, wassersteinNorm: null, wasserstein: 1, a: { std: 0 } });
    expect(report.verdict.checks.find((check) => check.name === 'maxWassersteinNorm')).toEqual({
      name: 'maxWassersteinNorm',
      threshold: 0.1,
      observed: null,
      passed: false,
    });
  });
});

describe('the report inside a transaction that goes on', () => {
  it('gives the same figures, and leaves the transaction settings as they were', async () => {
    const [a, b] = [await findVersion(db(), 'ref-0', 1), await findVersion(db(), 'ref-0', 2)];
    const aside = await driftFigures(db(), a?.id ?? '', b?.id ?? '', 0.1, { topMovers: 5 });
    await db()
      .transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL work_mem = '8MB'`.execute(trx);
        const inside = await driftFigures(trx, a?.id ?? '', b?.id ?? '', 0.1, {
          topMovers: 5,
          inTransaction: true,
        });
        expect(inside).toEqual(aside);
        const { rows } = await sql<{ work_mem: string; hashjoin: string }>`
          SELECT current_setting('work_mem') AS work_mem, current_setting('enable_hashjoin') AS hashjoin`.execute(
          trx,
        );
        expect(rows[0]).toEqual({ work_mem: '8MB', hashjoin: 'on' });
      });
  });
});
