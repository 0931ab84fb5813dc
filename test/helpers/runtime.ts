import type { Logger } from 'pino';
import { type Config, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openRuntime, type Role, type Runtime } from '../../src/runtime.ts';
import { REDIS_URL } from './services.ts';

/**
 * Runtimes for tests, wired as the processes wire theirs (src/runtime.ts): the file's database,
 * a Redis key prefix of the test's own, auth and rate limiting off unless a test turns them on,
 * and a logger that is silent unless TEST_LOG_LEVEL says otherwise.
 */

export const silentLogger: Logger = createLogger({
  logLevel: (process.env.TEST_LOG_LEVEL as Config['logLevel'] | undefined) ?? 'silent',
  logFormat: 'json',
});

export function testConfig(databaseUrl: string, prefix: string, env: Record<string, string> = {}): Config {
  return parseConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    ALMANAC_REDIS_PREFIX: prefix,
    ALMANAC_AUTH: 'off',
    ALMANAC_RATE_LIMIT: '0',
    ...env,
  });
}

export function testRuntime(
  databaseUrl: string,
  prefix: string,
  role: Role,
  env: Record<string, string> = {},
  logger: Logger = silentLogger,
): Runtime {
  return openRuntime(testConfig(databaseUrl, prefix, env), role, { logger });
}
