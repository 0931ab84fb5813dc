import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MemoryStore } from 'express-rate-limit';
import type pg from 'pg';
import { isValidKey } from '../model/keys.ts';
import { SERVED_STATES } from '../versions/states.ts';
import { bearerOf, type KeyVerifier } from './auth.ts';
import type { Catalog, VersionEntry } from './catalog.ts';
import {
  estimateBody,
  estimateCacheControl,
  estimateEtag,
  matchesEtag,
  missingKeyDetail,
  readEstimate,
} from './estimate-answer.ts';
import type { EstimateCache } from './estimate-cache.ts';
import type { Metrics } from './metrics.ts';
import { problemJson, tooManyRequests } from './problem.ts';

/**
 * Single lookups are most of the traffic. This answers the ones that need no decision from the
 * Express app: a valid key, an API key already verified, a version the catalog already holds.
 * Anything else (bad input, an unknown key, a pruned version, rate limiting on) goes to the app,
 * which answers it exactly as before. Headers, body and metrics are the app's.
 */

const PATH =
  /^\/v1\/models\/([a-z0-9][a-z0-9_-]{0,62})\/estimates\/([^/?#]+)(?:\?version=([1-9]\d{0,9}|latest))?$/;
export const ROUTE = '/v1/models/:model/estimates/:key';

/** The security headers the app's helmet sets on every API answer (a test keeps them equal). */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'SAMEORIGIN',
};

export type FastLookupDeps = {
  catalog: Catalog;
  cache: EstimateCache;
  pool: pg.Pool;
  metrics: Metrics;
  verifier: KeyVerifier;
  auth: boolean;
  /** requests per minute per key (0: off), counted in the app limiter's store */
  rateLimitPerMinute: number;
  rateLimitStore: MemoryStore;
};

/** Returns true when it has taken the request; false hands it to the app untouched. */
export function fastLookup(deps: FastLookupDeps) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET') return false;
    const match = PATH.exec(req.url ?? '');
    if (match === null) return false;
    const [, name = '', encoded = '', requested] = match;
    let key: string;
    try {
      key = decodeURIComponent(encoded);
    } catch {
      return false;
    }
    if (!isValidKey(key)) return false;
    let actor = 'anonymous';
    if (deps.auth) {
      const bearer = bearerOf(req.headers.authorization);
      const caller = bearer === undefined ? undefined : deps.verifier.known(bearer);
      if (!caller?.scopes.includes('read')) return false;
      actor = caller.actor;
    }
    const model = deps.catalog.model(name);
    if (model === undefined) return false;
    const version: VersionEntry | undefined =
      requested === undefined || requested === 'latest'
        ? model.published
        : model.versions.get(Number(requested));
    if (version === undefined || !SERVED_STATES.has(version.state)) return false;

    const started = process.hrtime.bigint();
    const etag = estimateEtag(version.id, key);
    const pinned = requested !== undefined && requested !== 'latest';
    const send = (status: number, headers: Record<string, string | number>, body?: string) => {
      res.writeHead(
        status,
        body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
      );
      res.end(body);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.requestDuration.observe({ method: 'GET', route: ROUTE, status: String(status) }, seconds);
    };
    const problem = (status: number, detail: string, headers: Record<string, string> = {}) =>
      send(
        status,
        { ...API_SECURITY_HEADERS, ...headers, 'Content-Type': 'application/problem+json' },
        problemJson(status, detail),
      );
    const versionHeaders = {
      ...API_SECURITY_HEADERS,
      'Estimate-Version': String(version.number),
      'Cache-Control': estimateCacheControl(pinned),
    };
    const lookUp = () => {
      if (matchesEtag(req.headers['if-none-match'], etag)) {
        deps.metrics.lookups.inc({ model: name });
        send(304, { ...versionHeaders, ETag: etag });
        return;
      }
      readEstimate(deps, name, version.id, key).then(
        (row) => {
          if (row === null) problem(404, missingKeyDetail(name, version.number, key), versionHeaders);
          else {
            const body = JSON.stringify(estimateBody(name, version.number, row));
            send(
              200,
              { ...versionHeaders, ETag: etag, 'Content-Type': 'application/json; charset=utf-8' },
              body,
            );
          }
        },
        () => problem(503, 'the database is not reachable right now; try again shortly'),
      );
    };
    if (deps.rateLimitPerMinute === 0) {
      lookUp();
      return true;
    }
    // The same counts as the app's limiter: a key over its limit is refused here as it would be there.
    deps.rateLimitStore.increment(actor).then((client) => {
      if (client.totalHits <= deps.rateLimitPerMinute) {
        lookUp();
        return;
      }
      const limited = tooManyRequests(deps.rateLimitPerMinute, client.resetTime);
      problem(429, limited.detail, { 'Retry-After': limited.retryAfter });
    }, lookUp);
    return true;
  };
}
