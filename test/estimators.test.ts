import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveSource } from '../src/db/source.ts';
import { naive } from '../src/model/estimators/naive.ts';
import { ridge } from '../src/model/estimators/ridge.ts';
import type { SufficientStats } from '../src/model/estimators/types.ts';
import { choleskySolve } from '../src/model/linear-algebra.ts';
import { parseSpec } from '../src/model/spec.ts';
import { train } from '../src/model/train.ts';
import { useConnections, useTestDatabase } from './helpers/hooks.ts';

const database = useTestDatabase('estimators');
const { db } = useConnections(database);

/** Population moments of rows, computed here the slow way, to feed fit() directly. */
function statsOf(xs: number[][], ys: number[]): SufficientStats {
  const n = ys.length;
  const p = xs[0]?.length ?? 0;
  const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  const col = (j: number) => xs.map((row) => row[j] ?? 0);
  const cov = (a: number[], b: number[]) => {
    const ma = mean(a);
    const mb = mean(b);
    return a.reduce((s, v, i) => s + (v - ma) * ((b[i] ?? 0) - mb), 0) / a.length;
  };
  return {
    n,
    featureMeans: Array.from({ length: p }, (_, j) => mean(col(j))),
    featureCov: Array.from({ length: p }, (_, j) => Array.from({ length: p }, (_, k) => cov(col(j), col(k)))),
    targetMean: mean(ys),
    featureTargetCov: Array.from({ length: p }, (_, j) => cov(col(j), ys)),
  };
}

describe('linear algebra', () => {
  it('solves an SPD system by Cholesky', () => {
    const x = choleskySolve(
      [
        [4, 2, 0.4],
        [2, 5, 1],
        [0.4, 1, 3],
      ],
      [1, 2, 3],
    );
    const back = [
      4 * (x[0] ?? 0) + 2 * (x[1] ?? 0) + 0.4 * (x[2] ?? 0),
      2 * (x[0] ?? 0) + 5 * (x[1] ?? 0) + (x[2] ?? 0),
    ];
    expect(back[0]).toBeCloseTo(1, 12);
    expect(back[1]).toBeCloseTo(2, 12);
  });

  it('refuses a singular matrix', () => {
    expect(() =>
      choleskySolve(
        [
          [1, 1],
          [1, 1],
        ],
        [1, 1],
      ),
    ).toThrow(/singular/);
  });
});

describe('ridge', () => {
  it('matches the closed form computed by hand on a small case', () => {
    // x = 1, 2, 3; y = 1, 2, 4; alpha = 1. ȳ = 7/3 and y − ȳ = −4/3, −1/3, 5/3. The population std
    // of x is √(2/3), so z = −√(3/2), 0, √(3/2): ZᵀZ = 3 and Zᵀ(y − ȳ) = √(3/2)·(4/3 + 5/3) = 3√(3/2).
    // β = 3√(3/2) / (3 + 1) = ¾√(3/2); at x = 3, ŷ = 7/3 + β·√(3/2) = 7/3 + 9/8.
    const artifact = ridge.fit({
      params: { alpha: 1 },
      features: ['x'],
      stats: statsOf([[1], [2], [3]], [1, 2, 4]),
    });
    expect(artifact.intercept).toBeCloseTo(7 / 3, 14);
    expect(artifact.coefficients[0]).toBeCloseTo(0.75 * Math.sqrt(1.5), 14);
    expect(ridge.predict(artifact, [3])).toBeCloseTo(7 / 3 + 9 / 8, 14);
    expect(ridge.predict(artifact, [1])).toBeCloseTo(7 / 3 - 9 / 8, 14);
  });

  it('shrinks toward the mean as alpha grows, and ignores a constant feature', () => {
    const xs = [
      [1, 5],
      [2, 5],
      [3, 5],
      [4, 5],
    ];
    const ys = [2, 4, 6, 8];
    const loose = ridge.fit({ params: { alpha: 0 }, features: ['x', 'c'], stats: statsOf(xs, ys) });
    const tight = ridge.fit({ params: { alpha: 1e6 }, features: ['x', 'c'], stats: statsOf(xs, ys) });
    expect(ridge.predict(loose, [10, 5])).toBeCloseTo(20, 10);
    expect(ridge.predict(tight, [10, 5])).toBeCloseTo(5, 2);
    expect(loose.coefficients[1]).toBe(0);
  });

  it('explains collinear features instead of failing obscurely', () => {
    const stats = statsOf(
      [
        [1, 2],
        [2, 4],
        [3, 6],
      ],
      [1, 2, 3],
    );
    expect(() => ridge.fit({ params: { alpha: 0 }, features: ['a', 'b'], stats })).toThrow(
      /features are collinear/,
    );
    expect(() => ridge.fit({ params: { alpha: 0.1 }, features: ['a', 'b'], stats })).not.toThrow();
  });
});

describe('training against Postgres', () => {
  beforeAll(async () => {
    // y = 3 + 2·a − 0.5·b + 0.25·c exactly, on 60 days of 50 keys with irregular features.
    await sql`CREATE TABLE exact AS
      SELECT 'k' || k AS key, date '2026-01-01' + d AS day,
             sin(k * 7 + d * 3.1) * 10 AS a, cos(k * 1.3 + d) * 4 + d AS b, (k * 31 + d * 17) % 13 - 6.5 AS c
      FROM generate_series(1, 50) k, generate_series(0, 59) d`.execute(db());
    await sql`ALTER TABLE exact ADD COLUMN y float8, ADD PRIMARY KEY (key, day)`.execute(db());
    await sql`UPDATE exact SET y = 3 + 2 * a - 0.5 * b + 0.25 * c`.execute(db());
  });

  async function fitExact(alpha: number, holdoutDays = 5) {
    const { spec } = parseSpec({
      name: 'exact',
      estimator: 'ridge',
      params: { alpha },
      source: { table: 'exact', key: 'key', time: 'day', target: 'y', features: ['a', 'b', 'c'] },
      trainWindowDays: 30,
      holdoutDays,
    });
    if (spec === undefined) throw new Error('bad spec');
    const source = await resolveSource(db(), spec.source as NonNullable<typeof spec.source>);
    return train(db(), spec, source);
  }

  it('recovers an exact linear relation to 1e-9 with alpha = 0, from SQL statistics alone', async () => {
    const { artifact, metrics, rows, window } = await fitExact(0);
    expect(window).toEqual({ anchor: '2026-03-01', trainWindowDays: 30, holdoutDays: 5 });
    expect(rows).toEqual({ train: 1500, holdout: 250, skipped: 0 });
    const { rows: sample } = await sql<{ a: number; b: number; c: number; y: number }>`
      SELECT a, b, c, y FROM exact ORDER BY key, day`.execute(db());
    for (const row of sample) {
      const predicted = ridge.predict(artifact as Parameters<typeof ridge.predict>[0], [row.a, row.b, row.c]);
      expect(Math.abs(predicted - row.y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(row.y)));
    }
    expect(metrics.holdout.mae).toBeLessThan(1e-9);
    expect(Math.abs(artifact.interval.lower)).toBeLessThan(1e-9);
  });

  it('gives an artifact that alone, as JSON, reproduces every prediction', async () => {
    const { artifact } = await fitExact(2.5);
    const revived = JSON.parse(JSON.stringify(artifact)) as Parameters<typeof ridge.predict>[0];
    const { rows } = await sql<{ a: number; b: number; c: number }>`SELECT a, b, c FROM exact`.execute(db());
    for (const row of rows) {
      const features = [row.a, row.b, row.c];
      expect(ridge.predict(revived, features)).toBe(ridge.predict(artifact as typeof revived, features));
    }
    // the SQL form used to measure the holdout is the same function
    const { rows: both } = await sql<{ sql: number; a: number; b: number; c: number }>`
      SELECT ${sql.raw(ridge.predictSql(revived, ['a', 'b', 'c']))} AS sql, a, b, c FROM exact LIMIT 20`.execute(
      db(),
    );
    for (const row of both) expect(row.sql).toBeCloseTo(ridge.predict(revived, [row.a, row.b, row.c]), 9);
  });

  it('measures naive on the same holdout, and naive predicts the last value of its feature', async () => {
    const { metrics } = await fitExact(0);
    expect(metrics.naive.feature).toBe('a');
    const { rows } = await sql<{ mae: number }>`
      SELECT avg(abs(y - a)) AS mae FROM exact WHERE day > date '2026-03-01' - 5`.execute(db());
    expect(metrics.naive.mae).toBeCloseTo(rows[0]?.mae ?? Number.NaN, 12);
    const artifact = naive.fit({
      params: { feature: 'b' },
      features: ['a', 'b'],
      stats: statsOf([[1, 2]], [0]),
    });
    expect(naive.predict(artifact, [1, 2])).toBe(2);
  });

  it('falls back to in-sample measures without a holdout', async () => {
    const { metrics, rows } = await fitExact(1, 0);
    expect(metrics.holdout.inSample).toBe(true);
    expect(rows.holdout).toBe(0);
  });
});
