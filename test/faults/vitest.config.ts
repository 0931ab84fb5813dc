import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.ts';

// The fault suite (`npm run test:faults`): real processes killed, real servers stopped and
// restarted. Slower than `npm test`, so it runs on its own, one file at a time: its cases stop
// and start servers and time recoveries, which a second file's load would blur.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    ...base.test,
    include: ['test/faults/*.test.ts'],
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
