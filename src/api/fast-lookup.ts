import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Store } from 'express-rate-limit';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { bearerOf, type KeyVerifier } from './auth.ts';
import type { Catalog } from './catalog.ts';
import {
  estimateBody,
  estimateEtag,
  matchesAnyAnswer,
  matchesEtag,
  missingKeyDetail,
  readEstimate,
  servedHeaders,
} from './estimate-answer.ts';
import type { EstimateCache } from './estimate-cache.ts';
import { REQUEST_ID } from './headers.ts';
import type { Metrics } from './metrics.ts';
import type { keyParams } from './params.ts';
import { problemFor, problemJson, tooManyRequests } from './problem.ts';
import { requestIdOf } from './request-id.ts';
import { expressPath } from './route.ts';
import { type estimateQuery, estimateRoute, requestOf } from './routes/estimates.ts';
import { securityHeaderValues } from './security-headers.ts';
import { pickServed, type Served } from './served-version.ts';
import type { VersionReads } from './version-reads.ts';

/**
 * Single lookups are most of the traffic. This answers the ones that need no decision from the
 * Express app: valid input by the estimate route's own definition (its path and its schemas), an
 * API key already verified, a version the catalog already holds. Anything else (bad input, an
 * unknown key, a pruned version) goes to the app, which answers it exactly as before. Headers,
 * body and metrics are the app's.
 */

export const ROUTE = expressPath(estimateRoute.path);
const PATH = new RegExp(`^${estimateRoute.path.replaceAll(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`);
const METHOD = estimateRoute.method.toUpperCase();
const SECURITY = securityHeaderValues();
const SCOPE = estimateRoute.access;

export type FastLookupDeps = {
  catalog: Catalog;
  cache: EstimateCache;
  reads: VersionReads;
  metrics: Metrics;
  verifier: KeyVerifier;
  auth: boolean;
  /** requests per minute per key (0: off), counted in the app limiter's store */
  rateLimitPerMinute: number;
  rateLimitStore: Store;
  logger: Logger;
};

/** The request's params and query by the route's schemas, or undefined to leave it to the app. */
function parse(
  url: string,
): { params: z.output<typeof keyParams>; query: z.output<typeof estimateQuery> } | undefined {
  const mark = url.indexOf('?');
  const match = PATH.exec(mark < 0 ? url : url.slice(0, mark));
  if (match?.groups === undefined) return undefined;
  const raw: Record<string, string> = {};
  try {
    for (const [name, value] of Object.entries(match.groups)) raw[name] = decodeURIComponent(value);
  } catch {
    return undefined;
  }
  const search = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
  const fields = [...search.keys()];
  // a repeated field is the app's to refuse
  if (new Set(fields).size !== fields.length) return undefined;
  const params = estimateRoute.params?.safeParse(raw);
  const query = estimateRoute.query?.safeParse(Object.fromEntries(search));
  if (params?.success !== true || query?.success !== true) return undefined;
  return {
    params: params.data as z.output<typeof keyParams>,
    query: query.data as z.output<typeof estimateQuery>,
  };
}

/** Returns true when it has taken the request; false hands it to the app untouched. */
export function fastLookup(deps: FastLookupDeps) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== METHOD) return false;
    const input = parse(req.url ?? '');
    if (input === undefined) return false;
    const { model: name, key } = input.params;
    let actor = 'anonymous';
    if (deps.auth) {
      const bearer = bearerOf(req.headers.authorization);
      const caller = bearer === undefined ? undefined : deps.verifier.known(bearer);
      if (SCOPE === 'public' || !caller?.scopes.includes(SCOPE)) return false;
      actor = caller.actor;
    }
    const model = deps.catalog.model(name);
    if (model === undefined) return false;
    let served: Served;
    try {
      served = pickServed(model, requestOf(input.query));
    } catch {
      return false; // the app answers what is missing or gone, or reloads what is new
    }
    const { version } = served;

    const started = process.hrtime.bigint();
    const etag = estimateEtag(served, key);
    const requestId = requestIdOf(req.headers[REQUEST_ID.toLowerCase()]);
    res.on('close', () => {
      if (!res.writableFinished) deps.metrics.abortedRequests.inc({ method: METHOD, route: ROUTE });
    });
    const send = (status: number, headers: Record<string, string | number>, body?: string) => {
      res.writeHead(
        status,
        body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
      );
      res.end(body);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.requestDuration.observe({ method: METHOD, route: ROUTE, status: String(status) }, seconds);
    };
    const common = { ...SECURITY, [REQUEST_ID]: requestId };
    const problem = (status: number, detail: string, headers: Record<string, string> = {}) =>
      send(
        status,
        { ...common, ...headers, 'Content-Type': 'application/problem+json' },
        problemJson(status, detail),
      );
    const versionHeaders = { ...common, ...servedHeaders(served) };
    const lookUp = () => {
      if (matchesEtag(req.headers['if-none-match'], etag)) {
        deps.metrics.lookups.inc({ model: name });
        send(304, { ...versionHeaders, ETag: etag });
        return;
      }
      readEstimate(deps, name, version, key).then(
        (row) => {
          if (row === null) problem(404, missingKeyDetail(name, version.number, key), versionHeaders);
          else if (matchesAnyAnswer(req.headers['if-none-match']))
            send(304, { ...versionHeaders, ETag: etag });
          else {
            const body = JSON.stringify(estimateBody(name, version.number, row, served.stale));
            send(
              200,
              { ...versionHeaders, ETag: etag, 'Content-Type': 'application/json; charset=utf-8' },
              body,
            );
          }
        },
        (error: unknown) => {
          const answer = problemFor(error, deps.logger, req.url ?? '');
          send(
            answer.status,
            { ...versionHeaders, ...answer.headers, 'Content-Type': 'application/problem+json' },
            answer.body,
          );
        },
      );
    };
    if (deps.rateLimitPerMinute === 0) {
      lookUp();
      return true;
    }
    // The same counts as the app's limiter: a key over its limit is refused here as it would be there.
    Promise.resolve(deps.rateLimitStore.increment(actor)).then(
      (client) => {
        if (client.totalHits <= deps.rateLimitPerMinute) {
          lookUp();
          return;
        }
        const limited = tooManyRequests(deps.rateLimitPerMinute, client.resetTime);
        problem(429, limited.detail, { 'Retry-After': limited.retryAfter });
      },
      (error: unknown) => {
        // as the app's limiter does: a store that fails (Redis down) limits nothing
        deps.logger.warn({ err: error }, 'rate limit not counted');
        lookUp();
      },
    );
    return true;
  };
}
