import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.ts';

describe('configuration', () => {
  it('fills every default the README lists and freezes the result', () => {
    const config = parseConfig({});
    expect(config).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/almanac',
      databaseReadUrl: undefined,
      redisUrl: 'redis://127.0.0.1:6379',
      redisPrefix: 'almanac',
      port: 8080,
      host: '127.0.0.1',
      auth: true,
      sessionSecret: undefined,
      trustProxy: false,
      rateLimitPerMinute: 600_000,
      rateLimitRedis: false,
      authFailuresPerMinute: 30,
      httpIdleTimeoutMs: 10_000,
      workerConcurrency: 2,
      maxImportBytes: 1024 ** 3,
      jobLockMs: 30_000,
      reconcileMs: 30_000,
      reportTimeoutMs: 60_000,
      workerMetricsPort: undefined,
      schedulerMetricsPort: undefined,
      logLevel: 'info',
      logFormat: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(parseConfig({ ALMANAC_TRUST_PROXY: 'on' }).trustProxy).toBe(true);
    expect(parseConfig({ ALMANAC_TRUST_PROXY: '2' }).trustProxy).toBe(2);
  });

  it('reads every variable and treats empty ones as unset', () => {
    const config = parseConfig({
      DATABASE_URL: 'postgresql://u@db:5433/x',
      DATABASE_READ_URL: 'postgres://u@replica/x',
      REDIS_URL: 'rediss://cache:6380',
      ALMANAC_REDIS_PREFIX: 'prod',
      PORT: '9000',
      ALMANAC_AUTH: 'off',
      ALMANAC_SESSION_SECRET: 'x'.repeat(32),
      ALMANAC_TRUST_PROXY: 'loopback, 10.0.0.0/8',
      ALMANAC_RATE_LIMIT: '0',
      ALMANAC_RATE_LIMIT_REDIS: 'on',
      ALMANAC_AUTH_FAILURE_LIMIT: '5',
      ALMANAC_HTTP_IDLE_TIMEOUT_MS: '2500',
      ALMANAC_WORKER_CONCURRENCY: '8',
      ALMANAC_MAX_IMPORT_BYTES: '1048576',
      ALMANAC_WORKER_METRICS_PORT: '9464',
      ALMANAC_SCHEDULER_METRICS_PORT: '9465',
      HOST: '0.0.0.0',
      LOG_LEVEL: '',
      LOG_FORMAT: 'json',
      UNRELATED: 'ignored',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgresql://u@db:5433/x',
      databaseReadUrl: 'postgres://u@replica/x',
      redisUrl: 'rediss://cache:6380',
      redisPrefix: 'prod',
      port: 9000,
      auth: false,
      sessionSecret: 'x'.repeat(32),
      trustProxy: 'loopback, 10.0.0.0/8',
      rateLimitPerMinute: 0,
      rateLimitRedis: true,
      authFailuresPerMinute: 5,
      httpIdleTimeoutMs: 2500,
      workerConcurrency: 8,
      maxImportBytes: 1048576,
      workerMetricsPort: 9464,
      schedulerMetricsPort: 9465,
      host: '0.0.0.0',
      logLevel: 'info',
      logFormat: 'json',
    });
  });

  it('names each bad variable and what it accepts, one line each', () => {
    const attempt = () =>
      parseConfig({
        PORT: 'eighty',
        ALMANAC_AUTH: 'yes',
        DATABASE_URL: 'mysql://x',
        ALMANAC_WORKER_CONCURRENCY: '0',
        ALMANAC_SESSION_SECRET: 'short',
        ALMANAC_TRUST_PROXY: 'proxy; rm -rf',
      });
    expect(attempt).toThrow(ConfigError);
    const lines = (() => {
      try {
        attempt();
        return [];
      } catch (error) {
        return (error as Error).message.split('\n');
      }
    })();
    expect(lines).toHaveLength(6);
    expect(lines.find((line) => line.startsWith('ALMANAC_SESSION_SECRET: '))).toMatch(
      /at least 32 characters/,
    );
    expect(lines.find((line) => line.startsWith('ALMANAC_TRUST_PROXY: '))).toMatch(/"off", "on", a number/);
    expect(lines).toContain('PORT: must be a whole number from 0 to 65535');
    expect(lines).toContain('ALMANAC_AUTH: must be "on" or "off"');
    expect(lines).toContain('ALMANAC_WORKER_CONCURRENCY: must be a whole number from 1 to 256');
    expect(lines.find((line) => line.startsWith('DATABASE_URL: '))).toMatch(/postgres/);
  });

  it('says a value out of range once, though it fails two checks', () => {
    for (const [name, value] of [
      ['PORT', '1e99'],
      ['ALMANAC_RATE_LIMIT', '1e99'],
      ['ALMANAC_MAX_IMPORT_BYTES', '-1.5'],
    ] as const) {
      expect(() => parseConfig({ [name]: value })).toThrow(new RegExp(`^${name}: [^\\n]+$`));
    }
  });
});
