import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, type Store } from 'express-rate-limit';
import { LRUCache } from 'lru-cache';
import { findLiveApiKeyByHash } from '../db/api-keys.ts';
import type { Db } from '../db/database.ts';
import type { Scope } from '../db/types.ts';
import { HttpError } from '../errors.ts';
import { hashApiKey } from '../keys/api-keys.ts';
import { tooManyRequests } from './problem.ts';

/** Who is calling, set by the auth middleware: the key's name is recorded as the actor. */
export type Caller = { actor: string; scopes: readonly Scope[] };

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

const QUERY_KEY_NAMES = ['key', 'api_key', 'apikey', 'access_token', 'token'];
const CACHE_MS = 60_000;
/** how long a key hash is known not to exist: long enough to absorb a flood, short enough to forget */
const UNKNOWN_MS = 30_000;

/**
 * Bearer API keys: the key's SHA-256 is looked up, then compared in constant time. Verified keys
 * are remembered for a minute, and forgotten at once when any key changes (the catalog relays
 * the database's notification), so a revocation takes effect immediately. Hashes that match no
 * live key are remembered too (for 30 s, in a cache of their own, so that a flood of bogus keys
 * never pushes out the verified ones), and forgotten just as fast when keys change, so that a key
 * created after it was tried works at once. Concurrent requests with the same key share one
 * lookup: a key costs at most one database query however many requests carry it.
 */
export type KeyVerifier = {
  /** The caller of a key already verified (null: known to be bad), or undefined when not known yet. */
  known: (key: string) => Caller | null | undefined;
  identify: (key: string) => Promise<Caller | undefined>;
  /**
   * The caller of the key with this SHA-256 (hex), if it is live: a dashboard session carries the
   * hash, never the key, and is checked by it on every request, so a revoked key logs it out.
   */
  identifyHash: (keyHash: string) => Promise<Caller | undefined>;
};

export function createKeyVerifier(
  db: Db,
  onKeysChanged: (listener: () => void) => void,
  options: {
    /** called for each database lookup with what it found (the `almanac_auth_lookups_total` metric) */
    lookedUp?: (result: 'found' | 'unknown') => void;
  } = {},
): KeyVerifier {
  const verified = new LRUCache<string, Caller>({ max: 10_000, ttl: CACHE_MS });
  const unknown = new LRUCache<string, true>({ max: 100_000, ttl: UNKNOWN_MS });
  const pending = new Map<string, Promise<Caller | undefined>>();
  // a lookup that started before keys changed may have read the old keys: it is not remembered
  let generation = 0;
  onKeysChanged(() => {
    generation += 1;
    verified.clear();
    unknown.clear();
    pending.clear();
  });
  const lookup = (hash: string): Caller | null | undefined =>
    verified.get(hash) ?? (unknown.has(hash) ? null : undefined);
  const fetchCaller = async (hash: string): Promise<Caller | undefined> => {
    const started = generation;
    const found = await findLiveApiKeyByHash(db, hash);
    const caller =
      found !== undefined && timingSafeEqual(Buffer.from(found.keyHash, 'hex'), Buffer.from(hash, 'hex'))
        ? { actor: `api:${found.name}`, scopes: found.scopes }
        : undefined;
    options.lookedUp?.(caller === undefined ? 'unknown' : 'found');
    if (started === generation) {
      if (caller === undefined) unknown.set(hash, true);
      else verified.set(hash, caller);
    }
    return caller;
  };
  const identifyHash = (hash: string): Promise<Caller | undefined> => {
    const cached = lookup(hash);
    if (cached !== undefined) return Promise.resolve(cached ?? undefined);
    let inFlight = pending.get(hash);
    if (inFlight === undefined) {
      inFlight = fetchCaller(hash).finally(() => {
        if (pending.get(hash) === inFlight) pending.delete(hash);
      });
      pending.set(hash, inFlight);
    }
    return inFlight;
  };
  return {
    known: (key) => lookup(hashApiKey(key)),
    identify: (key) => identifyHash(hashApiKey(key)),
    identifyHash,
  };
}

/** The bearer in an Authorization header, if it is one. */
export function bearerOf(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

/**
 * Failed authentications counted per client address (Express's `req.ip`, so ALMANAC_TRUST_PROXY
 * decides whose address that is): past `perMinute` in a minute, a key not already verified is
 * answered 429 without being looked up, until the minute is over.
 */
export type AuthFailureLimit = { store: Store; perMinute: number };

export type AuthFailure = 'missing' | 'unknown' | 'limited';

export function authenticate(
  verifier: KeyVerifier,
  options: {
    enabled: boolean;
    /** undefined: failures are not limited */
    failureLimit?: AuthFailureLimit;
    /** called for each refused request (the `almanac_auth_failures_total` metric) */
    failed?: (reason: AuthFailure) => void;
  },
) {
  const { failureLimit, failed } = options;
  return async (req: Request, _res: Response, next: NextFunction) => {
    const inQuery = QUERY_KEY_NAMES.find((name) => name in (req.query as Record<string, unknown>));
    if (inQuery !== undefined) {
      throw new HttpError(
        400,
        `an API key in the URL ("${inQuery}") is refused: URLs end up in logs; send it as "Authorization: Bearer <key>"`,
      );
    }
    if (!options.enabled) {
      req.caller = { actor: 'anonymous', scopes: ['read', 'admin'] };
      next();
      return;
    }
    const bearer = bearerOf(req.get('authorization'));
    if (bearer === undefined) {
      failed?.('missing');
      throw new HttpError(401, 'an API key is required: "Authorization: Bearer <key>"', {
        headers: { 'WWW-Authenticate': 'Bearer realm="almanac"' },
      });
    }
    const known = verifier.known(bearer);
    if (known) {
      req.caller = known;
      next();
      return;
    }
    const client = ipKeyGenerator(req.ip ?? '');
    if (failureLimit !== undefined && failureLimit.perMinute > 0) {
      // a store that fails (Redis down) limits nothing: the lookup goes ahead
      const counted = await Promise.resolve()
        .then(() => failureLimit.store.get?.(client))
        .catch(() => undefined);
      if (counted !== undefined && counted.totalHits >= failureLimit.perMinute) {
        failed?.('limited');
        const limited = tooManyRequests(failureLimit.perMinute, counted.resetTime, 'failed authentications');
        throw new HttpError(429, limited.detail, { headers: { 'Retry-After': limited.retryAfter } });
      }
    }
    const caller = await verifier.identify(bearer);
    if (caller === undefined) {
      failed?.('unknown');
      if (failureLimit !== undefined && failureLimit.perMinute > 0) {
        await Promise.resolve()
          .then(() => failureLimit.store.increment(client))
          .catch(() => undefined);
      }
      throw new HttpError(401, 'the API key is unknown or revoked', {
        headers: { 'WWW-Authenticate': 'Bearer realm="almanac", error="invalid_token"' },
      });
    }
    req.caller = caller;
    next();
  };
}

/** Requires a scope of the caller. */
export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!req.caller?.scopes.includes(scope)) {
      throw new HttpError(403, `this needs an API key with the "${scope}" scope`);
    }
    next();
  };
}
