import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  createDatabase,
  dropDatabase,
  dropRedisPrefix,
  newRedisPrefix,
  openConnections,
  REDIS_URL,
} from './helpers/services.ts';

describe('the leak guard of the test helpers', () => {
  it('fails a test that leaves a Postgres connection open, and still drops its database', async () => {
    const { name, url } = await createDatabase('leak');
    const client = new pg.Client({ connectionString: url, application_name: 'leaky-test' });
    await client.connect();
    client.on('error', () => {}); // the drop terminates it
    await expect(dropDatabase(name)).rejects.toThrow(
      /left 1 Postgres connection\(s\) open to .*: leaky-test \(idle\)/,
    );
    await expect(openConnections(name)).resolves.toEqual([]);
    await client.end().catch(() => {});
  });

  it('passes a test that closed its connections', async () => {
    const { name, url } = await createDatabase('tidy');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.end();
    await expect(dropDatabase(name)).resolves.toBeUndefined();
  });

  it('fails a test that leaves a Redis connection open under its prefix, and deletes its keys', async () => {
    const prefix = newRedisPrefix();
    const redis = new Redis(REDIS_URL, { connectionName: `${prefix}:queue`, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    await redis.set(`${prefix}:k`, 'v');
    await expect(dropRedisPrefix(prefix)).rejects.toThrow(/left 1 Redis connection\(s\) open under prefix/);
    redis.disconnect();
    const check = new Redis(REDIS_URL);
    await expect(check.exists(`${prefix}:k`)).resolves.toBe(0);
    check.disconnect();
    await expect(dropRedisPrefix(prefix)).resolves.toBeUndefined();
  });
});
