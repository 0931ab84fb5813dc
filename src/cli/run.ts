import { main } from './main.ts';

/**
 * The process entry of the CLI: `bin/almanac.js` runs its compiled copy (dist/src/cli/run.js);
 * development and the tests' child processes run this file, the TypeScript itself. main()
 * never exits the process, so stdout drains before it ends.
 */
// `almanac export m | head -1`: the reader took what it wanted and left. Like any Unix filter the
// command stops there, quietly, rather than report a failure that is not one (a write to a closed
// pipe is EPIPE, which would otherwise read as a service that cannot be reached).
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});
process.exitCode = await main(process.argv.slice(2));
// Everything the command opened is closed by now. Should a library still hold the event loop (a
// stopped worker's BullMQ connections, stuck waiting for an end that ioredis never emits after a
// Redis outage, held it: taskforcesh/bullmq#4656, worked around in jobs/worker.ts), the process
// ends anyway, its output given 3 s to drain; the timer itself holds nothing.
setTimeout(() => process.exit(), 3_000).unref();
