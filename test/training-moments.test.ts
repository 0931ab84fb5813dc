import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { newestSourceTime } from '../src/db/input-stats.ts';
import { resolveSource } from '../src/db/source.ts';
import { inStableOrder, scanRange, trainingAnchor } from '../src/db/training.ts';
import { useTestSetup } from './helpers/hooks.ts';

const { db } = useTestSetup('training-moments');

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03'];
const KEYS = 400;
/** values that are not finite, or absent, dealt to a few rows of each column */
const SPOILERS = ['NaN', 'Infinity', '-Infinity', null] as const;

beforeAll(async () => {
  await sql`CREATE SCHEMA src`.execute(db());
  await sql`CREATE TABLE src.obs (k text, t date, a float8, b float8, c numeric, y float8)`.execute(db());
  // Means far from zero and spreads that differ per column, so that a mean or variance read from
  // the wrong variable's running sums, or summed in another order, would not come out the same.
  const columns = ['a', 'b', 'c', 'y'] as const;
  const rows = DAYS.flatMap((day, d) =>
    Array.from({ length: KEYS }, (_, i) => {
      const values = columns.map((_, j) => {
        const spoiled = (i * 7 + j * 13 + d) % 97;
        if (spoiled < SPOILERS.length) return SPOILERS[spoiled] ?? null;
        return String(1000 * (j + 1) + Math.sin(i * (j + 2) + d) * (j + 1) * 37.5 + i / 3);
      });
      return { k: `k${i}`, t: day, a: values[0], b: values[1], c: values[2], y: values[3] };
    }),
  );
  // a numeric column has no NaN of its own to spoil it with ±Infinity: those rows stay absent
  for (const row of rows) if (row.c === 'Infinity' || row.c === '-Infinity') row.c = null;
  const tuples = rows.map(
    (row) =>
      sql`(${row.k}, ${row.t}::date, ${row.a}::float8, ${row.b}::float8, ${row.c}::numeric, ${row.y}::float8)`,
  );
  await sql`INSERT INTO src.obs VALUES ${sql.join(tuples)}`.execute(db());
});

const TARGET_ORDER = ['absent', 'finite', 'invalid'];
/** unusable before usable, then by target: the order scanRange gives its groups in */
const byGroup = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  Number(a.usable) - Number(b.usable) ||
  TARGET_ORDER.indexOf(String(a.target)) - TARGET_ORDER.indexOf(String(b.target));

describe('training window moments', () => {
  it.each([[['a']], [['a', 'b']], [['a', 'b', 'c']]])(
    'with features %j are bit for bit avg and covar_pop of the usable rows, grouped by how each row is usable',
    async (features) => {
      const source = await resolveSource(db(), {
        table: 'src.obs',
        key: 'k',
        time: 't',
        target: 'y',
        features,
      });
      const anchor = DAYS[2] ?? '';
      const { groups, errors } = await inStableOrder(db(), (trx) =>
        scanRange(trx, source, { anchor, fromDaysBack: 3, toDaysBack: 0 }),
      );
      expect(errors).toBeUndefined();

      // What training read before: avg and covar_pop of every variable and pair, from the same
      // groups of the same scan, in the same order (inStableOrder hashes the groups: a sort
      // would reorder the rows within a group), and each column's finiteness tested as three
      // comparisons.
      const variables = [...features, 'y'];
      const v = variables.length;
      const finite = (x: string) => `${x}::float8 NOT IN ('NaN', 'Infinity', '-Infinity')`;
      const aggregates = variables.flatMap((x, j) => [
        `avg(${x}::float8) AS m${j}`,
        ...variables.slice(j).map((y, i) => `covar_pop(${x}::float8, ${y}::float8) AS c${j}_${j + i}`),
      ]);
      const reference = await inStableOrder(db(), async (trx) => {
        const { rows } = await sql<Record<string, number | string | boolean>>`
          SELECT usable, target, count(*) AS n, ${sql.raw(aggregates.join(', '))}
          FROM (
            SELECT coalesce(${sql.raw(variables.map(finite).join(' AND '))}, false) AS usable,
                   CASE WHEN y IS NULL THEN 'absent' WHEN ${sql.raw(finite('y'))} THEN 'finite' ELSE 'invalid' END AS target,
                   ${sql.raw(variables.join(', '))}
            FROM src.obs
          ) r
          GROUP BY usable, target`.execute(trx);
        return rows.sort(byGroup);
      });

      expect(groups.map((group) => [group.usable, group.target, group.n])).toEqual(
        reference.map((row) => [row.usable, row.target, Number(row.n)]),
      );
      // unusable groups of every kind are there: absent (null) and invalid (NaN, ±Infinity) targets
      expect(new Set(groups.filter((group) => !group.usable).map((group) => group.target))).toEqual(
        new Set(['finite', 'absent', 'invalid']),
      );
      for (const [g, group] of groups.entries()) {
        if (!group.usable) continue;
        const row = reference[g] ?? {};
        for (let j = 0; j < v; j += 1) {
          expect(group.means[j]).toBe(row[`m${j}`]);
          for (let k = j; k < v; k += 1) {
            expect(group.cov[j]?.[k]).toBe(row[`c${j}_${k}`]);
            expect(group.cov[k]?.[j]).toBe(row[`c${j}_${k}`]);
          }
        }
      }
    },
  );

  it('measure predictions in the same scan: bit for bit the errors and percentiles of the usable rows alone', async () => {
    const source = await resolveSource(db(), {
      table: 'src.obs',
      key: 'k',
      time: 't',
      target: 'y',
      features: ['a', 'b'],
    });
    const anchor = DAYS[2] ?? '';
    // the holdout is the anchor's day; the model a line in both features, naive the first
    const model = ([a, b]: string[]) => `0.75 * ${a} - 0.125 * ${b} + 1000`;
    const { groups, errors } = await inStableOrder(db(), (trx) =>
      scanRange(trx, source, { anchor, fromDaysBack: 1, toDaysBack: 0 }, { model, naive: ([a]) => `${a}` }),
    );
    const { rows } = await inStableOrder(db(), (trx) =>
      sql<Record<string, number | number[]>>`
        SELECT count(*) AS n, avg(abs(r)) AS mae, sqrt(avg(r * r)) AS rmse, avg(r) AS bias,
               percentile_cont(ARRAY[0.05, 0.95]) WITHIN GROUP (ORDER BY r) AS percentiles,
               avg(abs(rn)) AS naive_mae, sqrt(avg(rn * rn)) AS naive_rmse, avg(rn) AS naive_bias
        FROM (
          SELECT y - (${sql.raw(model(['a', 'b']))}) AS r, y - a AS rn FROM src.obs
          WHERE t = ${anchor}::date AND ${sql.raw(['a', 'b', 'y'].map((x) => `abs(${x}) < 'Infinity'`).join(' AND '))}
        ) e`.execute(trx),
    );
    const row = rows[0] ?? {};
    const percentiles = row.percentiles as number[];
    expect(errors).toEqual({
      rows: Number(row.n),
      mae: row.mae,
      rmse: row.rmse,
      bias: row.bias,
      residualP05: percentiles[0],
      residualP95: percentiles[1],
      naive: { mae: row.naive_mae, rmse: row.naive_rmse, bias: row.naive_bias },
    });
    // the rows measured are the usable group's, and some rows of the day were not usable
    expect(errors?.rows).toBe(groups.find((group) => group.usable)?.n);
    expect(groups.filter((group) => !group.usable).length).toBeGreaterThan(0);
    expect(errors?.rows).toBeGreaterThan(KEYS / 2);
  });
});

describe('source times as lineage keeps them', () => {
  it.each([['timestamptz'], ['timestamp'], ['date']])(
    'a %s column gives its newest time and anchor as text that reads as the API’s times and casts back exactly',
    async (type) => {
      const table = `src.times_${type}`;
      await sql`CREATE TABLE ${sql.raw(table)} (k text, t ${sql.raw(type)}, x float8, y float8)`.execute(
        db(),
      );
      await sql`INSERT INTO ${sql.raw(table)} VALUES
        ('a', '2026-03-01 10:00:00.123456+00', 1, 2), ('a', '2026-03-02 10:00:00.123456+00', 1, NULL)`.execute(
        db(),
      );
      const source = await resolveSource(db(), { table, key: 'k', time: 't', target: 'y', features: ['x'] });
      const newest = await newestSourceTime(db(), source);
      const anchor = await trainingAnchor(db(), source);
      const expected =
        type === 'date'
          ? ['2026-03-02', '2026-03-01']
          : ['2026-03-02T10:00:00.123456Z', '2026-03-01T10:00:00.123456Z'];
      expect([newest, anchor]).toEqual(expected);
      // the anchor found from the newest slice's figures is the same text
      expect(await trainingAnchor(db(), source, { time: newest ?? '', targetRows: 0 })).toBe(anchor);
      const { rows } = await sql<{ n: string }>`
        SELECT count(*) AS n FROM ${sql.raw(table)} WHERE t = ${anchor}::${sql.raw(source.timeType)}`.execute(
        db(),
      );
      expect(Number(rows[0]?.n)).toBe(1);
    },
  );
});
