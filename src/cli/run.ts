import { main } from './main.ts';

/**
 * The process entry of the CLI: `bin/almanac.js` runs its compiled copy (dist/src/cli/run.js);
 * development and the tests' child processes run this file, the TypeScript itself. main()
 * never exits the process, so stdout drains before it ends.
 */
process.exitCode = await main(process.argv.slice(2));
// Everything the command opened is closed by now. Should a library still hold the event loop (a
// stopped worker's BullMQ connections, stuck waiting for an end that ioredis never emits after a
// Redis outage, held it: taskforcesh/bullmq#4656, worked around in jobs/worker.ts), the process
// ends anyway, its output given 3 s to drain; the timer itself holds nothing.
setTimeout(() => process.exit(), 3_000).unref();
