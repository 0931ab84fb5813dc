import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { packageVersion } from '../package-info.ts';
import { JSON_BODY_LIMIT_BYTES } from './body-limit.ts';
import { headers, problem } from './responses.ts';
import type { Route } from './route.ts';
import { routes } from './routes.ts';

/**
 * The OpenAPI 3.1 document, generated from the route definitions (src/api/routes/): the zod
 * schemas that validate each request and describe each answer, so it cannot drift from the code.
 * The errors any route of a kind can answer are added here from what the route is.
 */

/** The problems a route can answer for what it is, beside its own. */
function commonProblems(route: Route): Record<number, ResponseConfig> {
  const problems: Record<number, ResponseConfig> = {};
  // every route validates its query, one that takes none too (src/api/route.ts refuses any field)
  problems[400] = problem('invalid input: every bad field is named in `errors`');
  if (route.access !== 'public') {
    problems[401] = problem('no API key, or an unknown or revoked one', {
      'WWW-Authenticate': { description: 'Bearer realm="almanac"', schema: { type: 'string' } },
    });
    if (route.access === 'admin') problems[403] = problem('the API key lacks the admin scope');
  }
  if (route.path.includes('{')) problems[404] = problem('unknown model, version, key or run');
  if (route.body !== undefined) {
    problems[413] = problem(`the body is too large (JSON: ${JSON_BODY_LIMIT_BYTES / 2 ** 20} MB)`);
    problems[415] = problem(`the body is not ${route.body.type}`);
  }
  if (route.path.startsWith('/v1/')) {
    problems[429] = problem('over the rate limit (ALMANAC_RATE_LIMIT per minute per key)', {
      'Retry-After': headers.retryAfter,
    });
    problems[503] = problem('a dependency (Postgres, Redis) does not answer; try again', {
      'Retry-After': headers.retryAfter,
    });
  }
  return problems;
}

let document: object | undefined;

export function openApiDocument(): object {
  if (document === undefined) {
    const registry = new OpenAPIRegistry();
    registry.registerComponent('securitySchemes', 'bearer', {
      type: 'http',
      scheme: 'bearer',
      description: 'an API key: `almanac keys create --name NAME --scope read|admin`',
    });
    for (const route of routes) {
      registry.registerPath({
        method: route.method,
        path: route.path,
        operationId: route.operationId,
        summary: route.summary,
        ...(route.description === undefined ? {} : { description: route.description }),
        security: route.access === 'public' ? [] : [{ bearer: [] }],
        request: {
          ...(route.params === undefined ? {} : { params: route.params }),
          ...(route.query === undefined ? {} : { query: route.query }),
          ...(route.headers === undefined ? {} : { headers: route.headers }),
          ...(route.body === undefined
            ? {}
            : {
                body: {
                  required: route.body.required,
                  content: {
                    [route.body.type]: { schema: route.body.schema ?? { type: 'string' } },
                  },
                },
              }),
        },
        // a route's own answer for a status wins over the common one (a 503 that says more)
        responses: { ...commonProblems(route), ...route.responses },
      });
    }
    document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
      openapi: '3.1.0',
      info: {
        title: 'Almanac',
        version: packageVersion,
        description:
          'Estimates as a service: versioned, drift-checked estimate tables served by key. Errors are RFC 9457 problem documents.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'the server that serves this document' }],
    });
  }
  return document;
}
