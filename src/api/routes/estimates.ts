import { z } from 'zod';
import { NotFoundError } from '../../errors.ts';
import {
  estimateBody,
  estimateEtag,
  matchesEtag,
  missingKeyDetail,
  readEstimate,
  readEstimates,
} from '../estimate-answer.ts';
import { cacheControl, ESTIMATE_VERSION } from '../headers.ts';
import { keyParams, keySchema, modelParam, versionNumber, versionText } from '../params.ts';
import { Batch, Estimate, headers, json, problem } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { servedVersion } from '../served-version.ts';

export const MAX_BATCH_KEYS = 10_000;

export const estimateQuery = z
  .object({ version: versionText.optional().describe('a version number, or "latest" (the default)') })
  .strict();
export const batchBody = z
  .object({
    keys: z
      .array(keySchema, { error: 'must be an array of keys' })
      .min(1, 'must hold 1 to 10000 keys')
      .max(MAX_BATCH_KEYS, 'must hold 1 to 10000 keys'),
    version: versionNumber.optional(),
  })
  .strict();

const answerHeaders = {
  [ESTIMATE_VERSION]: headers.estimateVersion,
  'Cache-Control': headers.cacheControl,
};

/** The single lookup: the Express app's route, and the definition the fast path matches with. */
export const estimateRoute = defineRoute({
  method: 'get',
  path: '/v1/models/{model}/estimates/{key}',
  operationId: 'getEstimate',
  summary: 'One estimate, from the published version or a pinned one (`?version=N`)',
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
    const requested = query.version ?? 'latest';
    const { version } = await servedVersion(deps.catalog, params.model, requested);
    const etag = estimateEtag(version.id, params.key);
    res.set({
      [ESTIMATE_VERSION]: String(version.number),
      ETag: etag,
      'Cache-Control': cacheControl(requested !== 'latest'),
    });
    if (matchesEtag(req.get('if-none-match'), etag)) {
      deps.metrics.lookups.inc({ model: params.model });
      res.status(304).end();
      return;
    }
    const row = await readEstimate(deps, params.model, version.id, params.key);
    if (row === null) {
      res.removeHeader('ETag');
      throw new NotFoundError(missingKeyDetail(params.model, version.number, params.key));
    }
    res.json(estimateBody(params.model, version.number, row));
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
      const { version } = await servedVersion(deps.catalog, params.model, body.version ?? 'latest');
      const found = await readEstimates(deps, params.model, version.id, body.keys);
      const estimates = [];
      const missing = [];
      for (const key of body.keys) {
        const row = found.get(key);
        if (row == null) missing.push(key);
        else estimates.push(estimateBody(params.model, version.number, row));
      }
      res.set({
        [ESTIMATE_VERSION]: String(version.number),
        'Cache-Control': cacheControl(body.version !== undefined),
      });
      res.json({ model: params.model, version: version.number, estimates, missing });
    },
  }),
];
