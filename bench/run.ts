/**
 * `npm run bench -- NAME...` runs the named benchmarks (all of them without a name) against the
 * local Postgres and Redis, each in a scratch database it drops afterwards, and prints a table.
 */
import { benchApi } from './api.ts';
import { benchDrift } from './drift.ts';
import { benchImport } from './import.ts';
import { benchPages } from './pages.ts';
import { benchRefresh } from './refresh.ts';
import { benchScale } from './scale.ts';
import { benchSeed } from './seed.ts';

const benchmarks: Record<string, () => Promise<void>> = {
  seed: benchSeed,
  refresh: benchRefresh,
  import: benchImport,
  api: benchApi,
  drift: benchDrift,
  pages: benchPages,
  scale: benchScale,
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in benchmarks));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benchmarks).join(', ')}\n`,
  );
  process.exitCode = 2;
} else {
  for (const name of requested.length > 0 ? requested : Object.keys(benchmarks)) {
    process.stdout.write(`\n== ${name}\n`);
    await benchmarks[name]?.();
  }
}
