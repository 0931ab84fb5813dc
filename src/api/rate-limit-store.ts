import { type IncrementResponse, MemoryStore, type Store } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { type RedisReply, RedisStore } from 'rate-limit-redis';

/**
 * Where the API counts requests per key and failed authentications per client: in the process
 * (each replica its own), or in Redis under the deployment's prefix (ALMANAC_RATE_LIMIT_REDIS),
 * shared by every replica. Both serving paths count in the one store the app's limiter holds.
 * A store that fails (Redis down) lets requests through: the callers log it, and a limit is never
 * worth refusing service over.
 */

/**
 * rate-limit-redis loads its scripts once, when the limiter starts: if Redis was down then, every
 * count after would fail for good. This loads them again after any failure, so counting resumes
 * once Redis is back.
 */
class RecoveringRedisStore extends RedisStore {
  override async increment(key: string): Promise<IncrementResponse> {
    try {
      return await super.increment(key);
    } catch (error) {
      this.reloadScripts();
      throw error;
    }
  }

  override async get(key: string) {
    try {
      return await super.get(key);
    } catch (error) {
      this.reloadScripts();
      throw error;
    }
  }

  private reloadScripts() {
    this.incrementScriptSha = this.loadIncrementScript();
    this.getScriptSha = this.loadGetScript();
    // a load that fails too is seen by the next count, which tries again
    this.incrementScriptSha.catch(() => {});
    this.getScriptSha.catch(() => {});
  }
}

/**
 * A store of counts: in memory, or in Redis under `<prefix>:ratelimit:<purpose>:`. The Redis
 * connection has no ioredis `keyPrefix` (BullMQ refuses one and prefixes its own keys the same
 * way), so the prefix is written into each key here.
 */
export function rateLimitStore(
  purpose: 'requests' | 'auth-failures' | 'login-attempts',
  redis: { connection: Redis; prefix: string } | undefined,
): Store {
  if (redis === undefined) return new MemoryStore();
  return new RecoveringRedisStore({
    prefix: `${redis.prefix}:ratelimit:${purpose}:`,
    sendCommand: (command: string, ...args: string[]) =>
      redis.connection.call(command, ...args) as Promise<RedisReply>,
  });
}
