import { type Request, type Response, Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { NotFoundError } from '../../errors.ts';
import type { Catalog } from '../catalog.ts';
import {
  estimateBody,
  estimateCacheControl,
  estimateEtag,
  matchesEtag,
  missingKeyDetail,
  readEstimate,
  readEstimates,
} from '../estimate-answer.ts';
import type { EstimateCache } from '../estimate-cache.ts';
import type { Metrics } from '../metrics.ts';
import { keyParams, keySchema, modelParam, versionNumber, versionText } from '../params.ts';
import { requireJson } from '../require-json.ts';
import { servedVersion } from '../served-version.ts';
import { parseRequest } from '../validate.ts';

export const MAX_BATCH_KEYS = 10_000;

export const estimateQuery = z.object({ version: versionText.optional() }).strict();
export const batchBody = z
  .object({
    keys: z
      .array(keySchema, { error: 'must be an array of keys' })
      .min(1, 'must hold 1 to 10000 keys')
      .max(MAX_BATCH_KEYS, 'must hold 1 to 10000 keys'),
    version: versionNumber.optional(),
  })
  .strict();

type Deps = { pool: pg.Pool; catalog: Catalog; cache: EstimateCache; metrics: Metrics };

export function estimatesRouter(deps: Deps): Router {
  const router = Router();

  router.get('/v1/models/:model/estimates/:key', async (req, res) => {
    const { model: name, key } = parseRequest(keyParams, req.params, 'params');
    const { version: requested = 'latest' } = parseRequest(estimateQuery, req.query, 'query');
    const { version } = await servedVersion(deps.catalog, name, requested);
    const etag = estimateEtag(version.id, key);
    res.set({
      'Estimate-Version': String(version.number),
      ETag: etag,
      'Cache-Control': estimateCacheControl(requested !== 'latest'),
    });
    if (matchesEtag(req.get('if-none-match'), etag)) {
      deps.metrics.lookups.inc({ model: name });
      res.status(304).end();
      return;
    }
    const row = await readEstimate(deps, name, version.id, key);
    if (row === null) {
      res.removeHeader('ETag');
      throw new NotFoundError(missingKeyDetail(name, version.number, key));
    }
    res.json(estimateBody(name, version.number, row));
  });

  router.post('/v1/models/:model/estimates/batch', requireJson, async (req: Request, res: Response) => {
    const { model: name } = parseRequest(modelParam, req.params, 'params');
    const body = parseRequest(batchBody, req.body, 'body');
    const { version } = await servedVersion(deps.catalog, name, body.version ?? 'latest');
    const found = await readEstimates(deps, name, version.id, body.keys);
    const estimates = [];
    const missing = [];
    for (const key of body.keys) {
      const row = found.get(key);
      if (row == null) missing.push(key);
      else estimates.push(estimateBody(name, version.number, row));
    }
    res.set('Estimate-Version', String(version.number));
    res.set(
      'Cache-Control',
      body.version === undefined ? 'no-cache' : 'private, max-age=31536000, immutable',
    );
    res.json({ model: name, version: version.number, estimates, missing });
  });

  return router;
}
