import { z } from 'zod';
import { databaseAnswers } from '../../db/health.ts';
import { gateRegistry } from '../../drift/alerts.ts';
import { within } from '../../within.ts';
import { DOCS_CSP, DOCS_PAGE } from '../docs.ts';
import { openApiDocument } from '../openapi.ts';
import { Readiness } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { freshnessOf } from '../served-version.ts';

const text = (description: string, type: string) => ({
  description,
  content: { [type]: { schema: z.string() } },
});

export const healthRoutes = [
  defineRoute({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    summary: 'Liveness: the process answers',
    access: 'public',
    responses: {
      200: {
        description: 'alive',
        content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
      },
    },
    handle: (_input, { res }) => {
      res.json({ status: 'ok' });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    summary:
      'Readiness: Postgres and Redis answer (each within 2 s); the read replica is reported, never required',
    access: 'public',
    responses: {
      200: { description: 'ready', content: { 'application/json': { schema: Readiness } } },
      503: {
        description: 'a dependency is down, named in `status`',
        content: { 'application/json': { schema: Readiness } },
      },
    },
    handle: async (_input, { res, deps }) => {
      const check = async (work: () => Promise<unknown>) => {
        try {
          await within(2_000, work());
          return 'ok';
        } catch (error) {
          return `down: ${(error as Error).message}`;
        }
      };
      const [postgres, redis] = await Promise.all([
        check(() => databaseAnswers(deps.db)),
        check(deps.redisPing),
      ]);
      const down = [postgres === 'ok' ? undefined : 'postgres', redis === 'ok' ? undefined : 'redis'].filter(
        (name) => name !== undefined,
      );
      // stale data is worth an operator's look, not a reason to take the API out of a load balancer
      const now = Date.now();
      const stale = deps.catalog
        .models()
        .filter((model) => freshnessOf(model, now)?.stale === true)
        .map((model) => model.name);
      // a replica that is down costs the primary its reads, not the API its answers
      const replica = deps.reads.replicaState();
      res.status(down.length === 0 ? 200 : 503).json({
        status: down.length === 0 ? 'ready' : `not ready: ${down.join(' and ')} down`,
        checks: { postgres, redis, ...(replica === undefined ? {} : { replica }) },
        stale,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics of this API process (and the drift gate of the imports it ran)',
    access: 'public',
    responses: { 200: text('text exposition format', 'text/plain') },
    handle: async (_input, { res, deps }) => {
      // The gate's counters live in their own registry: imports through this API count there too.
      const [own, gate] = await Promise.all([deps.metrics.registry.metrics(), gateRegistry.metrics()]);
      res.type(deps.metrics.registry.contentType).send(`${own}${gate}`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This document: OpenAPI 3.1',
    access: 'public',
    responses: {
      200: {
        description: 'the document',
        content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
      },
    },
    handle: (_input, { res }) => {
      res.json(openApiDocument());
    },
  }),
  defineRoute({
    method: 'get',
    path: '/docs',
    operationId: 'getApiReference',
    summary: 'The API reference, a page rendering this document (no network beyond this server)',
    access: 'public',
    responses: { 200: text('the page', 'text/html') },
    handle: (_input, { res }) => {
      res.set({ 'Content-Security-Policy': DOCS_CSP }).type('html').send(DOCS_PAGE);
    },
  }),
];
