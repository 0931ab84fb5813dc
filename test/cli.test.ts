import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoSpecFiles } from '../seeds/demo-specs.ts';
import { hashApiKey } from '../src/keys/api-keys.ts';
import { runCli } from './helpers/cli.ts';
import { useConnections, useTempFiles, useTestDatabase } from './helpers/hooks.ts';
import { runBin } from './helpers/spawn.ts';

const database = useTestDatabase('cli');
const { db } = useConnections(database);
const files = useTempFiles('cli');
const specFile = (name: string, content: unknown) =>
  files.write(name, typeof content === 'string' ? content : JSON.stringify(content));

beforeAll(async () => {
  const seeded = await runCli('seed', '--keys', '30', '--days', '20');
  expect(seeded.code).toBe(0);
});

describe('exit codes', () => {
  it('0 for help, on every command', async () => {
    for (const args of [
      ['--help'],
      ['seed', '--help'],
      ['models', 'apply', '--help'],
      ['keys', 'create', '--help'],
    ]) {
      const run = await runCli(...args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Usage: almanac');
    }
  });

  it('2 for usage errors: unknown command or option, missing argument, bad value', async () => {
    expect(await runCli('frobnicate')).toMatchObject({
      code: 2,
      stderr: "unknown command 'frobnicate' (run with --help for usage)\n",
    });
    expect(await runCli('seed', '--frob')).toMatchObject({
      code: 2,
      stderr: "unknown option '--frob' (run with --help for usage)\n",
    });
    // commander's suggestion stays on the same line
    expect((await runCli('seed', '--day', '3')).stderr).toBe(
      "unknown option '--day' (Did you mean --days?) (run with --help for usage)\n",
    );
    expect((await runCli('models', 'apply')).code).toBe(2);
    expect((await runCli('keys', 'create', '--name', 'x')).code).toBe(2);
    expect(await runCli('run', 'prices', '--timeout', '5')).toMatchObject({
      code: 2,
      stderr: '--timeout only applies with --wait\n',
    });
    const badScope = await runCli('keys', 'create', '--name', 'x', '--scope', 'root');
    expect(badScope).toMatchObject({ code: 2, stderr: '--scope: must be "read" or "admin"\n' });
  });

  it('1 for failures, with one plain message and no stack trace', async () => {
    // the CLI's words say what to run next
    expect((await runCli('show', 'ghost', '1')).stderr).toBe(
      'model "ghost" does not exist; see `almanac models list`\n',
    );
    const run = await runCli('keys', 'revoke', 'nobody');
    expect(run).toMatchObject({
      code: 1,
      stderr: 'no live API key named "nobody"; see `almanac keys list`\n',
    });
    const verbose = await runCli('--verbose', 'keys', 'revoke', 'nobody');
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    // after a command too
    const after = await runCli('keys', 'revoke', 'nobody', '--verbose');
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^no live API key named "nobody".*\n\s+at /s);
  });
});

describe('almanac models', () => {
  it('apply: a bad cron, an unknown column and a text feature exit 1, all named, nothing stored', async () => {
    await sql`ALTER TABLE demo.daily_prices ADD COLUMN sector text`.execute(db());
    const file = await specFile('bad.json', {
      name: 'broken',
      estimator: 'ridge',
      source: {
        table: 'demo.daily_prices',
        key: 'ticker',
        time: 'day',
        target: 'close_next',
        features: ['close', 'open', 'sector'],
      },
      schedule: { cron: '0 2 * *' },
    });
    const run = await runCli('models', 'apply', file);
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^schedule\.cron: must have five fields/),
      'source.features.1: column "open" does not exist in demo.daily_prices',
      expect.stringMatching(/^source\.features\.2: column "sector" is text; it must be numeric/),
    ]);
    const { rows } = await sql`SELECT name FROM models`.execute(db());
    expect(rows).toEqual([]);
  });

  it('apply: stores valid specs, all or none, and updates on a second apply', async () => {
    const files = await demoSpecFiles();
    const bad = await specFile('not-json.json', '{ "name": ');
    const mixed = await runCli('models', 'apply', ...files, bad);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('not-json.json: is not valid JSON');
    const misspelt = await specFile(
      'misspelt.json',
      JSON.stringify({ name: 'x', estimator: 'naive', sharts: 2 }),
    );
    const named = await runCli('models', 'apply', ...files, misspelt);
    expect(named.stderr).toMatch(/misspelt\.json: sharts: unknown field\n/);
    const list = await specFile('list.json', JSON.stringify([{ name: 'x', estimator: 'naive' }]));
    expect((await runCli('models', 'apply', list)).stderr).toMatch(/^\S*list\.json: .*object/);
    expect((await sql`SELECT name FROM models`.execute(db())).rows).toEqual([]);

    const first = await runCli('models', 'apply', ...files);
    expect(first).toMatchObject({
      code: 0,
      stdout: 'created model nasdaq-close (ridge)\ncreated model nasdaq-naive (naive)\n',
    });
    const second = await runCli('models', 'apply', files[0] ?? '');
    expect(second.stdout).toBe('updated model nasdaq-close (ridge)\n');
    const stored = await sql<{ spec: { drift: { maxPsi: number } } }>`
      SELECT spec FROM models WHERE name = 'nasdaq-naive'`.execute(db());
    expect(stored.rows[0]?.spec.drift.maxPsi).toBe(0.2);
  });

  it('apply: a missing file is a clear failure', async () => {
    const run = await runCli('models', 'apply', path.join(tmpdir(), 'almanac-test-missing', 'nope.json'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/nope\.json: cannot be read \(ENOENT\)/);
  });

  it('import: a folder for a file is a clear failure', async () => {
    const run = await runCli('import', 'nasdaq-close', tmpdir());
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`${tmpdir()}: is not a file\n`);
  });

  it('list: a table, or JSON with --json', async () => {
    const table = await runCli('models', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+ESTIMATOR\s+SCHEDULE\s+PUBLISHED\s+DESCRIPTION$/);
    expect(table.stdout).toMatch(/nasdaq-close\s+ridge\s+0 2 \* \* \* UTC\s+-\s+Next-day close/);
    const json = JSON.parse((await runCli('models', 'list', '--json')).stdout) as { name: string }[];
    expect(json.map((model) => model.name)).toEqual(['nasdaq-close', 'nasdaq-naive']);
  });
});

describe('almanac keys', () => {
  it('create prints the key alone and stores only its SHA-256', async () => {
    const run = await runCli('keys', 'create', '--name', 'ops', '--scope', 'admin');
    expect(run.code).toBe(0);
    const key = run.stdout.trim();
    expect(run.stdout).toBe(`${key}\n`);
    expect(key).toMatch(/^alm_[A-Za-z0-9_-]{43}$/); // 256 bits in base64url
    const { rows } = await sql<{ key_hash: string; scopes: string[] }>`
      SELECT key_hash, scopes FROM api_keys WHERE name = 'ops'`.execute(db());
    expect(rows).toEqual([{ key_hash: hashApiKey(key), scopes: ['read', 'admin'] }]);
    const again = await runCli('keys', 'create', '--name', 'ops', '--scope', 'read');
    expect(again).toMatchObject({
      code: 1,
      stderr: 'an API key named "ops" already exists; choose another name\n',
    });
  });

  it('list and revoke', async () => {
    await runCli('keys', 'create', '--name', 'dashboard', '--scope', 'read');
    expect((await runCli('keys', 'revoke', 'dashboard')).stdout).toBe('revoked key dashboard\n');
    expect((await runCli('keys', 'revoke', 'dashboard')).code).toBe(1);
    const list = await runCli('keys', 'list');
    expect(list.stdout).toMatch(/^dashboard\s+read\s+\S+Z\s+\S+Z$/m);
    expect(list.stdout).toMatch(/^ops\s+read,admin\s+\S+Z\s+-$/m);
  });
});

describe('the almanac executable', () => {
  it('stops on a bad setting with one line naming the variable', async () => {
    const run = await runBin(['models', 'list'], { PORT: 'eighty', DATABASE_URL: database.url });
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'PORT: must be a whole number from 0 to 65535\n' });
  });

  it('explains an unreachable database without a stack trace', async () => {
    const run = await runBin(['models', 'list'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/almanac' });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'cannot reach Postgres (DATABASE_URL) at 127.0.0.1:1 (ECONNREFUSED); is it running?\n',
    );
  });

  it('explains a database that was never migrated', async () => {
    const run = await runBin(['models', 'list'], {
      DATABASE_URL: database.url.replace(/[^/]+$/, 'postgres'),
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^the database has no Almanac schema yet .*; run `almanac migrate` first\n$/);
  });

  it('maps usage errors to 2 and prints the key alone on stdout', async () => {
    expect((await runBin(['seed', '--keys'], { DATABASE_URL: database.url })).code).toBe(2);
    const run = await runBin(['keys', 'create', '--name', 'ci', '--scope', 'read'], {
      DATABASE_URL: database.url,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^alm_\S{43}\n$/);
  });
});

describe('--version', () => {
  it('is a flag of the program alone: before a command it prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await runCli(flag)).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    }
  });

  it("after a command keeps that command's meaning: export --version 3 is version 3", async () => {
    await runCli('models', 'apply', await specFile('ext.json', { name: 'ext', estimator: 'external' }));
    for (const rows of ['A,1', 'A,1', 'A,1\nB,2']) {
      expect((await runCli('import', 'ext', await specFile('v.csv', `key,value\n${rows}\n`))).code).not.toBe(
        1,
      );
    }
    const third = await runCli('export', 'ext', '--version', '3', '--verbose');
    expect(third).toMatchObject({ code: 0, stdout: 'key,value,lower,upper,as_of\nA,1,,,\nB,2,,,\n' });
    const missing = await runCli('export', 'ext', '--version', '9');
    expect(missing).toMatchObject({ code: 1, stderr: 'model "ext" has no version 9\n' });
  });
});
