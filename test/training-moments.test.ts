import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { newestSourceTime } from '../src/db/input-stats.ts';
import { resolveSource } from '../src/db/source.ts';
import { dailyMoments, inStableOrder, trainingAnchor } from '../src/db/training.ts';
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
      const days = await inStableOrder(db(), (trx) =>
        dailyMoments(trx, source, { anchor, fromDaysBack: 3, toDaysBack: 0 }),
      );

      // What training read before: avg and covar_pop of every variable and pair, from the same
      // groups of the same scan, in the same order (inStableOrder hashes the groups: left to
      // itself, the planner sorts this query's rows into groups, which reorders them),
      // and each column's finiteness tested as three comparisons.
      const variables = [...features, 'y'];
      const v = variables.length;
      const finite = (x: string) => `${x}::float8 NOT IN ('NaN', 'Infinity', '-Infinity')`;
      const aggregates = variables.flatMap((x, j) => [
        `avg(${x}::float8) AS m${j}`,
        ...variables.slice(j).map((y, i) => `covar_pop(${x}::float8, ${y}::float8) AS c${j}_${j + i}`),
      ]);
      const reference = await inStableOrder(db(), async (trx) => {
        const { rows } = await sql<Record<string, number | string | boolean>>`
          SELECT days_back, usable, target, count(*) AS n, ${sql.raw(aggregates.join(', '))}
          FROM (
            SELECT (${anchor}::date - t) AS days_back, coalesce(${sql.raw(variables.map(finite).join(' AND '))}, false) AS usable,
                   CASE WHEN y IS NULL THEN 'absent' WHEN ${sql.raw(finite('y'))} THEN 'finite' ELSE 'invalid' END AS target,
                   ${sql.raw(variables.join(', '))}
            FROM src.obs
          ) r
          GROUP BY days_back, usable, target ORDER BY days_back, usable, target`.execute(trx);
        return rows;
      });

      expect(days.map((day) => [day.daysBack, day.usable, day.target, day.n])).toEqual(
        reference.map((row) => [row.days_back, row.usable, row.target, Number(row.n)]),
      );
      // unusable groups of every kind are there: absent (null) and invalid (NaN, ±Infinity) targets
      expect(new Set(days.filter((day) => !day.usable).map((day) => day.target))).toEqual(
        new Set(['finite', 'absent', 'invalid']),
      );
      for (const [g, day] of days.entries()) {
        if (!day.usable) continue;
        const row = reference[g] ?? {};
        for (let j = 0; j < v; j += 1) {
          expect(day.means[j]).toBe(row[`m${j}`]);
          for (let k = j; k < v; k += 1) {
            expect(day.cov[j]?.[k]).toBe(row[`c${j}_${k}`]);
            expect(day.cov[k]?.[j]).toBe(row[`c${j}_${k}`]);
          }
        }
      }
    },
  );
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
