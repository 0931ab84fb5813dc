import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { LRUCache } from 'lru-cache';
import { findLiveApiKeyByHash } from '../db/api-keys.ts';
import type { Db } from '../db/database.ts';
import type { Scope } from '../db/types.ts';
import { HttpError } from '../errors.ts';
import { hashApiKey } from '../keys/api-keys.ts';

/** Who is calling, set by the auth middleware: the key's name is recorded as the actor. */
export type Caller = { actor: string; scopes: readonly Scope[] };

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

const QUERY_KEY_NAMES = ['key', 'api_key', 'apikey', 'access_token', 'token'];
const CACHE_MS = 60_000;

/**
 * Bearer API keys: the key's SHA-256 is looked up, then compared in constant time. Verified keys
 * are remembered for a minute, and forgotten at once when any key changes (the catalog relays
 * the database's notification), so a revocation takes effect immediately.
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

export function createKeyVerifier(db: Db, onKeysChanged: (listener: () => void) => void): KeyVerifier {
  // Bad keys are remembered too (null): a flood of them ages out the least used, never all at once.
  const known = new LRUCache<string, { caller: Caller | null }>({ max: 10_000, ttl: CACHE_MS });
  onKeysChanged(() => known.clear());
  const lookup = (hash: string) => known.get(hash)?.caller;
  const identifyHash = async (hash: string) => {
    const cached = lookup(hash);
    if (cached !== undefined) return cached ?? undefined;
    const found = await findLiveApiKeyByHash(db, hash);
    const caller =
      found !== undefined && timingSafeEqual(Buffer.from(found.keyHash, 'hex'), Buffer.from(hash, 'hex'))
        ? { actor: `api:${found.name}`, scopes: found.scopes }
        : null;
    known.set(hash, { caller });
    return caller ?? undefined;
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

export function authenticate(verifier: KeyVerifier, options: { enabled: boolean }) {
  const identify = verifier.identify;
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
      throw new HttpError(401, 'an API key is required: "Authorization: Bearer <key>"', {
        headers: { 'WWW-Authenticate': 'Bearer realm="almanac"' },
      });
    }
    const caller = await identify(bearer);
    if (caller === undefined) {
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
