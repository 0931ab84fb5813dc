import { z } from 'zod';
import { NotFoundError } from '../../errors.ts';
import {
  estimateBody,
  estimateEtag,
  matchesAnyAnswer,
  matchesEtag,
  missingKeyDetail,
  readEstimate,
  readEstimates,
  servedHeaders,
} from '../estimate-answer.ts';
import { ESTIMATE_STALE, ESTIMATE_VERSION } from '../headers.ts';
import { instantText, keyParams, keySchema, modelParam, versionNumber, versionText } from '../params.ts';
import { Batch, Estimate, headers, json, problem } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { servedVersion, type VersionRequest } from '../served-version.ts';

export const MAX_BATCH_KEYS = 10_000;

const VERSION_OR_AT = 'give version or at, not both';

export const estimateQuery = z
  .object({
    version: versionText.optional().describe('a version number, or "latest" (the default)'),
    at: instantText
      .optional()
      .describe(
        'answer from the version that was published at this instant (RFC 3339), instead of `version`',
      ),
  })
  .strict()
  .refine((query) => query.version === undefined || query.at === undefined, {
    error: VERSION_OR_AT,
    path: ['at'],
  });
export const batchBody = z
  .object({
    keys: z
      .array(keySchema, { error: 'must be an array of keys' })
      .min(1, 'must hold 1 to 10000 keys')
      .max(MAX_BATCH_KEYS, 'must hold 1 to 10000 keys'),
    version: versionNumber.optional(),
    at: instantText
      .optional()
      .describe('answer from the version that was published at this instant, instead of `version`'),
  })
  .strict()
  .refine((body) => body.version === undefined || body.at === undefined, {
    error: VERSION_OR_AT,
    path: ['at'],
  });

/** What a lookup's query or a batch's body asks for (src/api/served-version.ts). */
export function requestOf(input: {
  version?: number | 'latest' | undefined;
  at?: number | undefined;
}): VersionRequest {
  return input.at !== undefined ? { at: input.at } : (input.version ?? 'latest');
}

const answerHeaders = {
  [ESTIMATE_VERSION]: headers.estimateVersion,
  'Cache-Control': headers.cacheControl,
  [ESTIMATE_STALE]: headers.estimateStale,
};

/** The single lookup: the Express app's route, and the definition the fast path matches with. */
export const estimateRoute = defineRoute({
  method: 'get',
  path: '/v1/models/{model}/estimates/{key}',
  operationId: 'getEstimate',
  summary:
    'One estimate, from the published version, a pinned one (`?version=N`), or the one published at an instant (`?at=`)',
  access: 'read',
  params: keyParams,
  query: estimateQuery,
  headers: z.object({ 'If-None-Match': z.string().optional().describe('an ETag of an earlier answer') }),
  responses: {
    200: json(Estimate, 'the estimate', { ...answerHeaders, ETag: headers.etag }),
    304: {
      description: 'not modified: the ETag sent still holds',
      headers: { ...answerHeaders, ETag: headers.etag },
    },
    410: problem('the version was pruned by retention'),
  },
  handle: async ({ params, query }, { req, res, deps }) => {
    const served = await servedVersion(deps.catalog, params.model, requestOf(query));
    const { version } = served;
    const etag = estimateEtag(served, params.key);
    res.set({ ...servedHeaders(served), ETag: etag });
    if (matchesEtag(req.get('if-none-match'), etag)) {
      deps.metrics.lookups.inc({ model: params.model });
      res.status(304).end();
      return;
    }
    const row = await readEstimate(deps, params.model, version, params.key);
    if (row === null) {
      res.removeHeader('ETag');
      throw new NotFoundError(missingKeyDetail(params.model, version.number, params.key));
    }
    if (matchesAnyAnswer(req.get('if-none-match'))) {
      res.status(304).end();
      return;
    }
    res.json(estimateBody(params.model, version.number, row, served.stale));
  },
});

export const estimateRoutes = [
  estimateRoute,
  defineRoute({
    method: 'post',
    path: '/v1/models/{model}/estimates/batch',
    operationId: 'getEstimateBatch',
    summary: 'Up to 10,000 keys, all from one version, in request order',
    access: 'read',
    params: modelParam,
    body: { type: 'application/json', schema: batchBody, required: true },
    responses: {
      200: json(Batch, 'the estimates found, and the keys missing', answerHeaders),
      410: problem('the version was pruned by retention'),
    },
    handle: async ({ params, body }, { res, deps }) => {
      const served = await servedVersion(deps.catalog, params.model, requestOf(body));
      const { version } = served;
      const found = await readEstimates(deps, params.model, version, body.keys);
      const estimates = [];
      const missing = [];
      for (const key of body.keys) {
        const row = found.get(key);
        if (row == null) missing.push(key);
        else estimates.push(estimateBody(params.model, version.number, row, served.stale));
      }
      res.set(servedHeaders(served));
      res.json({ model: params.model, version: version.number, stale: served.stale, estimates, missing });
    },
  }),
];
