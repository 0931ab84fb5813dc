import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // the fault suite (test/faults/) has its own config: test/faults/vitest.config.ts
    include: ['test/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests talk to one Postgres and one Redis on a 2-core machine; two files at a time keeps
    // both busy without starving either.
    maxWorkers: 2,
  },
});
