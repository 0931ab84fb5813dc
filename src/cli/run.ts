import { main } from './main.ts';

/**
 * The process entry of the CLI: `bin/almanac.js` runs its compiled copy (dist/src/cli/run.js);
 * development and the tests' child processes run this file, the TypeScript itself. main()
 * never exits the process, so stdout drains before it ends.
 */
process.exitCode = await main(process.argv.slice(2));
