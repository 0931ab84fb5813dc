import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { listVersions } from '../src/db/versions.ts';
import { ImportRejectedError, importCsv, readableOf } from '../src/imports/import-csv.ts';
import { runCli } from './helpers/cli.ts';
import { useConnections, useTempFiles, useTestDatabase } from './helpers/hooks.ts';
import { applySpec, lenientDrift } from './helpers/pipeline.ts';

const database = useTestDatabase('import');
const { db, runtime } = useConnections(database);
const files = useTempFiles('import');

beforeAll(async () => {
  await applySpec(db(), {
    name: 'from-python',
    estimator: 'external',
    drift: { ...lenientDrift, maxRemovedShare: 0.5 },
  });
  await applySpec(db(), { name: 'other', estimator: 'external' });
});

const file = files.write;

async function rejection(content: string): Promise<ImportRejectedError> {
  try {
    await importCsv(runtime(), 'other', readableOf(content), 'test');
  } catch (error) {
    if (error instanceof ImportRejectedError) return error;
    throw error;
  }
  throw new Error('the import was accepted');
}

async function leftovers() {
  const { rows } = await sql<{ versions: string; tables: string }>`
    SELECT (SELECT count(*) FROM versions WHERE model = 'other') AS versions,
           (SELECT count(*) FROM pg_class WHERE relname LIKE 'estimates_v%') AS tables`.execute(db());
  return rows[0];
}

describe('almanac import', () => {
  it('publishes a good file as a version, with intervals, and the next one supersedes it', async () => {
    const rows = [
      'key,value,lower,upper',
      'AAPL,101.5,99,104',
      '"MSFT, Inc.",1e3,,',
      'Zürich 8001,-0.25,-1,1',
      'tab\\key,2.5E-3,0,1',
    ];
    // before its first import, an external model's runs point at the import, not at `almanac run`
    expect((await runCli('runs', 'from-python')).stdout).toBe(
      "no runs of from-python: an external model's versions come from `almanac import from-python FILE`\n",
    );
    const first = await runCli('import', 'from-python', await file('good.csv', `${rows.join('\n')}\n`));
    expect(first).toMatchObject({ code: 0, stdout: 'published version 1 of from-python (4 keys)\n' });
    const { rows: stored } = await sql`
      SELECT key, value, lower, upper FROM latest_estimates WHERE model = 'from-python' ORDER BY key COLLATE "C"`.execute(
      db(),
    );
    expect(stored).toEqual([
      { key: 'AAPL', value: 101.5, lower: 99, upper: 104 },
      { key: 'MSFT, Inc.', value: 1000, lower: null, upper: null },
      { key: 'Zürich 8001', value: -0.25, lower: -1, upper: 1 },
      { key: 'tab\\key', value: 0.0025, lower: 0, upper: 1 },
    ]);
    const second = await runCli(
      'import',
      'from-python',
      await file('next.csv', 'value,key\n1,AAPL\n2,MSFT, Inc.\n'),
    );
    expect(second.code).toBe(1);
    const third = await runCli(
      'import',
      'from-python',
      await file('next.csv', 'value,key\n1,AAPL\n2,"MSFT, Inc."\n3,NEW\n'),
    );
    expect(third).toMatchObject({ code: 0, stdout: 'published version 2 of from-python (3 keys)\n' });
    const versions = await listVersions(db(), 'from-python', { limit: 5, withDrift: true });
    expect(versions.map((v) => [v.number, v.state, v.rowCount])).toEqual([
      [2, 'published', 3],
      [1, 'superseded', 4],
    ]);
    expect(versions[0]?.drift).toMatchObject({ coverage: { both: 2, removed: 2, added: 1 } });
  });

  it('holds a version that the gate rejects (exit 3), and leaves serving alone', async () => {
    const run = await runCli('import', 'from-python', await file('few.csv', 'key,value\nAAPL,1\n'));
    expect(run.code).toBe(3);
    expect(run.stdout).toContain('version 3 of from-python (1 keys) was held by the drift gate');
    const { rows } =
      await sql`SELECT DISTINCT version FROM latest_estimates WHERE model = 'from-python'`.execute(db());
    expect(rows).toEqual([{ version: 2 }]);
  });

  it.each([
    ['a missing key', 'key,value\n,1\n', [{ line: 2, field: 'key', message: 'missing key' }]],
    [
      'a duplicate key',
      'key,value\nA,1\nB,2\nA,3\n',
      [{ line: 4, field: 'key', message: 'duplicate key A (first on line 2)' }],
    ],
    [
      'a non-numeric value',
      'key,value\nA,abc\n',
      [{ line: 2, field: 'value', message: 'not a number: abc' }],
    ],
    ['a missing value', 'key,value\nA,\n', [{ line: 2, field: 'value', message: 'missing value' }]],
    ['NaN', 'key,value\nA,NaN\n', [{ line: 2, field: 'value', message: 'NaN is not a number' }]],
    [
      'an infinite value',
      'key,value\nA,-Infinity\n',
      [{ line: 2, field: 'value', message: 'infinite values are not allowed' }],
    ],
    [
      'a value beyond a double',
      'key,value\nA,1e999\n',
      [{ line: 2, field: 'value', message: 'out of range: too large for a double (infinite)' }],
    ],
    [
      'a bad bound',
      'key,value,lower\nA,1,low\n',
      [{ line: 2, field: 'lower', message: 'not a number: low' }],
    ],
    [
      'an interval that ends before it starts',
      'key,value,lower,upper\nA,1,0,2\nB,1,3,2\nC,1,2,2\n',
      [{ line: 3, field: 'upper', message: 'below lower: 2 < 3' }],
    ],
    [
      'a key of 257 characters',
      `key,value\n${'k'.repeat(257)},1\n`,
      [{ line: 2, field: 'key', message: 'key is 257 characters long; at most 256' }],
    ],
    [
      'a control character in a key',
      'key,value\n"a\u0001b",1\n',
      [{ line: 2, field: 'key', message: 'key contains control characters' }],
    ],
    [
      'a NUL in a key',
      'key,value\na\u0000b,1\n',
      [{ line: 2, field: 'key', message: 'key contains control characters' }],
    ],
    [
      'bytes that are not UTF-8 (read as U+FFFD)',
      'key,value\nA\ufffdB,1\n',
      [
        {
          line: 2,
          field: 'key',
          message: 'key holds a lone surrogate or U+FFFD, what undecodable bytes become',
        },
      ],
    ],
    [
      'a byte-order mark inside a data row (two files joined), and other invisible characters',
      '\ufeffkey,value\n\ufeffAAPL,1\nMS\u200bFT,2\nGOOG\u2060,3\n',
      [
        { line: 2, field: 'key', message: 'key contains an invisible character (U+FEFF)' },
        { line: 3, field: 'key', message: 'key contains an invisible character (U+200B)' },
        { line: 4, field: 'key', message: 'key contains an invisible character (U+2060)' },
      ],
    ],
    [
      'an as_of that is not a time, not a real date, or has no offset',
      'key,value,as_of\nA,1,yesterday\nB,1,2026-02-30\nC,1,2026-05-01T10:00:00\nD,1,2026-05-01T25:00Z\nE,1,2026-05-01T10:00+16:00\nF,1,0000-01-01\n',
      [
        {
          line: 2,
          field: 'as_of',
          message: 'not a time: yesterday (use ISO 8601, e.g. 2026-05-01 or 2026-05-01T16:00:00Z)',
        },
        { line: 3, field: 'as_of', message: 'not a real date: 2026-02-30' },
        {
          line: 4,
          field: 'as_of',
          message: '2026-05-01T10:00:00 has no offset; add Z (UTC) or one like +02:00',
        },
        { line: 5, field: 'as_of', message: 'not a real time of day: 2026-05-01T25:00Z' },
        { line: 6, field: 'as_of', message: 'not a real offset: 2026-05-01T10:00+16:00' },
        { line: 7, field: 'as_of', message: 'not a real date: 0000-01-01' },
      ],
    ],
    [
      'a wrong field count',
      'key,value\nA,1,2\n',
      [{ line: 2, field: '', message: 'expected 2 fields (key,value), got 3' }],
    ],
    [
      'an unknown column',
      'key,estimate\nA,1\n',
      [
        {
          line: 1,
          field: 'header',
          message: 'unknown column "estimate"; expected key,value[,lower,upper][,as_of]',
        },
      ],
    ],
    ['no rows', 'key,value\n', [{ line: 2, field: '', message: 'the file has a header but no rows' }]],
    [
      'an empty file',
      '',
      [
        {
          line: 1,
          field: 'header',
          message: 'the file is empty; expected a header key,value[,lower,upper][,as_of]',
        },
      ],
    ],
    [
      'a broken quote',
      'key,value\n"A"x,1\n',
      [{ line: 2, field: '', message: expect.stringMatching(/^malformed CSV: Invalid Closing Quote/) }],
    ],
    [
      // csv-parse's one error code without the CSV_ prefix (found by test/hostile-properties.test.ts)
      'a quote opening inside a field',
      'key,value\n "A",1\n',
      [{ line: 2, field: '', message: expect.stringMatching(/^malformed CSV: Invalid Opening Quote/) }],
    ],
  ])('rejects %s, naming the line and field, leaving nothing behind', async (_what, content, expected) => {
    const error = await rejection(content);
    expect(error.problems).toEqual(expected);
    expect(await leftovers()).toEqual({ versions: '0', tables: expect.any(String) });
    const { rows } = await sql`SELECT 1 FROM pg_class WHERE relname = 'almanac_import_staging'`.execute(db());
    expect(rows).toEqual([]);
  });

  it('takes an optional as_of column: a date, or a date-time with its offset, stored as the instant', async () => {
    await applySpec(db(), { name: 'dated', estimator: 'external' });
    const rows = [
      'as_of,key,value',
      '2026-05-01,A,1',
      '2026-05-01T16:30:00.123456+02:00,B,2',
      '2026-05-01 09:00Z,C,3',
      ',D,4',
      '2026-05-02,\ufeffE,5',
    ];
    // E's line is fine but for its key: the whole file is refused, naming it
    const refused = await runCli('import', 'dated', await file('dated-bad.csv', `${rows.join('\n')}\n`));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('line 6, key: key contains an invisible character (U+FEFF)');
    const good = await runCli('import', 'dated', await file('dated.csv', `${rows.slice(0, 5).join('\n')}\n`));
    expect(good).toMatchObject({ code: 0, stdout: 'published version 1 of dated (4 keys)\n' });
    const { rows: stored } = await sql<{ key: string; as_of: string | null }>`
      SELECT key, to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS as_of
      FROM latest_estimates WHERE model = 'dated' ORDER BY key`.execute(db());
    expect(stored).toEqual([
      { key: 'A', as_of: '2026-05-01T00:00:00.000000' },
      { key: 'B', as_of: '2026-05-01T14:30:00.123456' },
      { key: 'C', as_of: '2026-05-01T09:00:00.000000' },
      { key: 'D', as_of: null },
    ]);
    const { rows: lineage } = await sql<{ import: unknown }>`
      SELECT lineage->'import' AS import FROM versions WHERE model = 'dated'`.execute(db());
    expect(lineage).toEqual([{ import: { rows: 4, asOf: true } }]);
  });

  it('lists every problem of a file at once, in line order, up to 100', async () => {
    const lines = ['key,value', 'A,1', 'A,x', ',2', 'B,NaN'];
    for (let i = 0; i < 150; i += 1) lines.push(`K${i},oops`);
    const error = await rejection(`${lines.join('\n')}\n`);
    expect(error.total).toBe(154);
    expect(error.problems).toHaveLength(100);
    expect(error.problems.slice(0, 4)).toEqual([
      { line: 3, field: 'key', message: 'duplicate key A (first on line 2)' },
      { line: 3, field: 'value', message: 'not a number: x' },
      { line: 4, field: 'key', message: 'missing key' },
      { line: 5, field: 'value', message: 'NaN is not a number' },
    ]);
    const cli = await runCli('import', 'other', await file('bad.csv', `${lines.join('\n')}\n`));
    expect(cli.code).toBe(1);
    const errors = cli.stderr.trim().split('\n');
    expect(errors[0]).toBe('line 3, key: duplicate key A (first on line 2)');
    expect(errors.at(-1)).toBe('(154 problems in all; the first 100 are listed)');
  });

  it('refuses computed models and unknown ones', async () => {
    await applySpec(db(), {
      name: 'computed',
      estimator: 'naive',
      source: {
        table: 'versions',
        key: 'model',
        time: 'created_at',
        target: 'number',
        features: ['row_count'],
      },
    });
    const computed = await runCli('import', 'computed', await file('x.csv', 'key,value\nA,1\n'));
    expect(computed).toMatchObject({ code: 1 });
    expect(computed.stderr).toContain('its versions are computed by `almanac run`, not imported');
    expect((await runCli('import', 'nope', await file('x.csv', 'key,value\nA,1\n'))).code).toBe(1);
  });
});
