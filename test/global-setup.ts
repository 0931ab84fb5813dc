import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs once before the suite: compiles the package (incrementally: seconds when nothing changed),
 * so that the tests that run `bin/almanac.js` as a process run the code under test. It drops no
 * database: each file drops its own, and keeps it when a test failed (`npm run test:clean`).
 */
export default async function setup(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
    },
  );
}
