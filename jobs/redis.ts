import { Redis } from 'ioredis';

/**
 * A Redis connection named after the key prefix and its role, so that `CLIENT LIST` shows whose
 * it is (and the tests' leak guard finds it). BullMQ needs `maxRetriesPerRequest: null` on the
 * connections its workers block on; a producer that must fail fast turns the offline queue off.
 */
export function createRedis(
  url: string,
  prefix: string,
  role: string,
  options: { failFast?: boolean } = {},
): Redis {
  const redis = new Redis(url, {
    connectionName: `${prefix}:${role}`,
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: !options.failFast,
    lazyConnect: false,
  });
  // ioredis reconnects by itself; without a listener an outage would crash the process.
  redis.on('error', () => {});
  return redis;
}
