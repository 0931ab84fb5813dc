import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/hooks.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const database = useTestDatabase('package', { migrate: false });
let folder = '';
let installed = '';
let packed: string[] = [];

/** The package as a user gets it: packed, then installed into an empty folder from the tarball. */
beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'almanac-test-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', folder], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [tarball] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  packed = tarball?.files.map((file) => file.path) ?? [];
  installed = path.join(folder, 'user');
  await run('mkdir', ['-p', installed]);
  await writeFile(path.join(installed, 'package.json'), '{ "name": "user", "private": true }\n');
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(folder, tarball?.filename ?? '')],
    { cwd: installed, maxBuffer: 64 * 1024 * 1024 },
  );
}, 240_000);
afterAll(async () => {
  if (folder !== '') await rm(folder, { recursive: true, force: true });
});

/** `npx almanac ...` in the user's folder (not this checkout), as a user would type it. */
const almanac = (args: string[], env: Record<string, string> = {}) =>
  run('npx', ['--offline', 'almanac', ...args], {
    cwd: installed,
    env: { ...process.env, LOG_FORMAT: 'json', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );

describe('the package', () => {
  it('ships compiled JavaScript and what it reads at run time, not the sources or the tests', () => {
    expect(packed).toContain('bin/almanac.js');
    expect(packed).toContain('dist/src/cli/run.js');
    expect(packed).toContain('dist/src/pipeline/score-thread.js');
    expect(packed).toContain('dist/migrations/0001_initial.js');
    expect(packed).toContain('seeds/models/nasdaq-close.json');
    expect(packed).toContain('package.json');
    expect(packed.filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(packed.filter((file) => file.startsWith('test/') || file.startsWith('bench/'))).toEqual([]);
  });

  it('installs from its tarball into an empty folder, and `npx almanac` runs there', async () => {
    expect(await almanac(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const migrated = await almanac(['migrate'], { DATABASE_URL: database.url });
    expect(migrated).toMatchObject({
      code: 0,
      stdout:
        'applied 9 migration(s): 0001_initial, 0002_change_notifications, 0003_dashboard_sessions, 0004_pins, 0005_input_checks, 0006_direct_readers, 0007_alert_outbox, 0008_run_shards, 0009_security_barrier_views\n',
    });
    expect(await almanac(['migrate'], { DATABASE_URL: database.url })).toMatchObject({
      code: 0,
      stdout: 'schema is up to date\n',
    });
    expect(await readdir(path.join(installed, 'node_modules', 'almanac', 'dist', 'migrations'))).toContain(
      '0002_change_notifications.js',
    );
  });

  it('says in one line which Node it needs, on a Node too old for it', async (context) => {
    const old = await olderNode();
    // every machine this project targets has one (Debian's Node 20 here); say so when it does not
    if (old === undefined) context.skip('no Node older than the engines minimum on PATH');
    const bin = path.join(installed, 'node_modules', 'almanac', 'bin', 'almanac.js');
    const result = await run(old ?? '', [bin, '--version']).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^almanac needs Node\.js >=22 \(24 LTS is best\); this is v\d+\.\d+\.\d+\n$/,
    );
  });
});

/** A `node` on PATH (outside node_modules) older than 22, if there is one. */
async function olderNode(): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !dir.includes('node_modules'));
  for (const dir of dirs) {
    const candidate = path.join(dir, 'node');
    const version = await run(candidate, ['--version']).then(
      ({ stdout }) => stdout.trim(),
      () => undefined,
    );
    if (version !== undefined && Number(/^v(\d+)/.exec(version)?.[1]) < 22) return candidate;
  }
  return undefined;
}
