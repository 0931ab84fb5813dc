import '../zod-messages.ts';
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { Express, Request, RequestHandler, Response } from 'express';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type ZodObject, type ZodPipe, z } from 'zod';
import type { Db } from '../db/database.ts';
import type { EnqueueRefresh } from '../runs/request.ts';
import { requireScope } from './auth.ts';
import { jsonBody } from './body-limit.ts';
import type { Catalog } from './catalog.ts';
import type { EstimateCache } from './estimate-cache.ts';
import type { Metrics } from './metrics.ts';
import type { ReportCache } from './report-cache.ts';
import { optionalJson, requireCsv, requireJson } from './require-json.ts';
import { parseRequest } from './validate.ts';
import type { VersionReads } from './version-reads.ts';

/**
 * One definition of each route: its path, who may call it, the zod schemas of its params, query
 * and body, its answers, and its handler. The Express app mounts these definitions (validating
 * with those schemas), the OpenAPI document is generated from them (src/api/openapi.ts), and the
 * lookup fast path matches and validates with the estimate route's own (src/api/fast-lookup.ts).
 */

/** Who may call a route: anyone, or an API key with this scope. */
export type Access = 'public' | 'read' | 'admin';

/** The queue as the API needs it: enqueue (fails fast when Redis is down) and whether it is up. */
export type QueueAccess = { enqueue: EnqueueRefresh; ready: () => boolean };

/** What handlers work with: the process's connections and the API's own state. */
export type ApiDeps = {
  db: Db;
  pool: pg.Pool;
  /** where versions' rows are read: the replica once it has them, else the primary */
  reads: VersionReads;
  catalog: Catalog;
  cache: EstimateCache;
  metrics: Metrics;
  queue: QueueAccess;
  redisPing: () => Promise<unknown>;
  reports: ReportCache;
  logger: Logger;
  maxImportBytes: number;
};

type Shape = ZodObject | ZodPipe;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export type RouteBody<B extends z.ZodType | undefined> =
  | {
      type: 'application/json';
      schema: B;
      required: boolean;
      /**
       * the handler checks the body with this schema itself, with more than its shape (a model
       * spec against the database), naming fields under `body` as every route does
       * (`body.schedule.cron`)
       */
      checkedByHandler?: true;
    }
  /** the handler streams the body itself */
  | { type: 'text/csv'; schema?: undefined; required: true };

export type Route<
  P extends Shape | undefined = Shape | undefined,
  Q extends Shape | undefined = Shape | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
> = {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI style: `/v1/models/{model}` */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: RouteBody<B>;
  /** request headers it reads, for the document */
  headers?: ZodObject;
  /**
   * Its own answers. The errors any route of its kind can give (400, 401, 403, 404, 413, 415,
   * 429, 503) are added from its definition (src/api/openapi.ts).
   */
  responses: Record<number, ResponseConfig>;
  handle: (
    input: { params: Parsed<P>; query: Parsed<Q>; body: Parsed<B> },
    http: { req: Request; res: Response; deps: ApiDeps },
  ) => Promise<void> | void;
};

/** A route, with its handler's input typed from its schemas. */
export function defineRoute<
  P extends Shape | undefined = undefined,
  Q extends Shape | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(route: Route<P, Q, B>): Route {
  return route as unknown as Route;
}

/** `/v1/models/{model}` as Express writes it: `/v1/models/:model`. */
export function expressPath(path: string): string {
  return path.replaceAll(/\{(\w+)\}/g, ':$1');
}

/**
 * The methods the routes take at a path that exists (GET also answers HEAD), for a 405's Allow
 * header; empty when no route has the path. The routes' patterns are compiled once, here, not
 * for every request that falls through to the 404.
 */
export function allowedMethods(routes: readonly Route[]): (path: string) => string[] {
  const patterns = routes.map((route) => ({
    pattern: pathPattern(route.path),
    methods: route.method === 'get' ? ['GET', 'HEAD'] : [route.method.toUpperCase()],
  }));
  return (path) => [
    ...new Set(patterns.filter(({ pattern }) => pattern.test(path)).flatMap(({ methods }) => methods)),
  ];
}

function pathPattern(path: string): RegExp {
  const escaped = path.replaceAll(/[.*+?^$()|[\]\\]/g, '\\$&').replaceAll(/\{\w+\}/g, '[^/]+');
  // Express matches paths without regard to case, and so does this
  return new RegExp(`^${escaped}/?$`, 'i');
}

const NO_QUERY = z.object({}).strict();

/**
 * Mounts each route: its scope, its body's content type, then its validated input to its handler.
 * `prefix` mounts them again elsewhere (the dashboard's read-only `/data` copy of the API).
 */
export function mountRoutes(
  app: Express,
  routes: readonly Route[],
  deps: ApiDeps,
  options: { prefix?: string } = {},
): void {
  for (const route of routes) {
    const steps: RequestHandler[] = [];
    if (route.access !== 'public') steps.push(requireScope(route.access));
    // a body is read only for a caller who may send it, and only by a route that takes one: a
    // JSON body sent to the CSV import is a 415, whether or not it parses
    if (route.body?.type === 'application/json')
      steps.push(route.body.required ? requireJson : optionalJson, jsonBody);
    if (route.body?.type === 'text/csv') steps.push(requireCsv);
    app[route.method](
      (options.prefix ?? '') + expressPath(route.path),
      ...steps,
      async (req: Request, res: Response) => {
        // a route that takes no query says so of any it is sent, as one that takes some does
        if (route.query === undefined) parseRequest(NO_QUERY, req.query, 'query');
        const input = {
          params: route.params === undefined ? undefined : parseRequest(route.params, req.params, 'params'),
          query: route.query === undefined ? undefined : parseRequest(route.query, req.query, 'query'),
          body:
            route.body?.schema === undefined || route.body.checkedByHandler
              ? undefined
              : parseRequest(route.body.schema, req.body ?? {}, 'body'),
        };
        await route.handle(input, { req, res, deps });
      },
    );
  }
}
