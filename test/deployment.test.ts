import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * docker-compose.yml and the Dockerfile, read as Docker would (there is no Docker engine here to
 * run them): what each service needs to start in order and to be seen healthy.
 */

type Service = {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
};
const root = new URL('..', import.meta.url);
const compose = parse(await readFile(new URL('docker-compose.yml', root), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');

describe('docker-compose.yml', () => {
  const { services } = compose;

  it('runs Postgres and Redis (never evicting) with health checks, and migrates once first', () => {
    expect(services.redis?.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction']));
    expect(services.postgres?.healthcheck?.test).toEqual(
      expect.arrayContaining(['pg_isready', '-h', '127.0.0.1']),
    );
    expect(services.redis?.healthcheck?.test).toContain('ping');
    expect(services.migrate).toMatchObject({
      command: ['migrate'],
      restart: 'no',
      depends_on: { postgres: { condition: 'service_healthy' } },
    });
  });

  it.each([
    ['api', 'serve', 'PORT', '8080'],
    ['worker', 'worker', 'ALMANAC_WORKER_METRICS_PORT', '9464'],
    ['scheduler', 'scheduler', 'ALMANAC_SCHEDULER_METRICS_PORT', '9465'],
  ])('starts %s once its dependencies are healthy and checks its /healthz', (name, command, port, value) => {
    const service = services[name];
    expect(service?.command).toEqual([command]);
    expect(service?.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    expect(service?.environment?.[port]).toBe(value);
    expect(service?.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${value}/healthz`);
  });

  it('takes the Postgres password from the environment (a .env file), with a default', () => {
    // what compose substitutes, written as compose reads it
    const password = ['$', '{POSTGRES_PASSWORD:-almanac}'].join('');
    expect(services.postgres?.environment?.POSTGRES_PASSWORD).toBe(password);
    for (const name of ['migrate', 'api', 'worker', 'scheduler']) {
      expect(services[name]?.environment?.DATABASE_URL).toContain(`:${password}@postgres:`);
    }
  });
});

describe('the Dockerfile', () => {
  it('builds dist/ in one stage and runs the compiled package on every interface in the next', () => {
    expect(dockerfile).toMatch(/^FROM node:24-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --no-audit --no-fund$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev --ignore-scripts/m);
    expect(dockerfile).toMatch(/^ENV HOST=0\.0\.0\.0$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/almanac\.js"\]$/m);
  });
});
