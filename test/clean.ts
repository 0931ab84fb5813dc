/**
 * `npm run test:clean`: drops the test databases that failed test files kept for inspection
 * (almanac_test_*, on ALMANAC_TEST_ADMIN_URL's server).
 */
import { dropKeptDatabases } from './helpers/services.ts';

const dropped = await dropKeptDatabases();
process.stdout.write(dropped.length === 0 ? 'no kept test databases\n' : `dropped ${dropped.join(', ')}\n`);
