import { Transform, type TransformCallback } from 'node:stream';
import { type Request, Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { VERSION_STATES } from '../../db/types.ts';
import { listVersions } from '../../db/versions.ts';
import { ImportRejectedError, importCsv } from '../../imports/import-csv.ts';
import { decisionReason, publishVersion, rejectVersion } from '../../versions/publish.ts';
import { requireModel, resolveVersion } from '../../versions/resolve.ts';
import { requireScope } from '../auth.ts';
import type { Catalog } from '../catalog.ts';
import { page } from '../page.ts';
import { limitQuery, modelParam, versionNumberParams, versionParams } from '../params.ts';
import { HttpError, sendProblem } from '../problem.ts';
import { optionalJson, requireCsv } from '../require-json.ts';
import { parseRequest } from '../validate.ts';
import { versionDetail, versionSummary } from '../views.ts';

export const versionListQuery = z
  .object({
    state: z.enum(VERSION_STATES, { error: `must be one of ${VERSION_STATES.join(', ')}` }).optional(),
    limit: limitQuery.optional(),
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,9}$/, 'must be the nextCursor of a previous page')
      .transform(Number)
      .optional(),
  })
  .strict();

export const decisionBody = z.object({ reason: decisionReason.optional() }).strict();

type Deps = { db: Db; pool: pg.Pool; catalog: Catalog; maxImportBytes: number };

export function versionsRouter(deps: Deps): Router {
  const router = Router();

  router.get('/v1/models/:model/versions', requireScope('read'), async (req, res) => {
    const { model } = parseRequest(modelParam, req.params, 'params');
    const query = parseRequest(versionListQuery, req.query, 'query');
    await requireModel(deps.db, model);
    res.json(
      await page(
        query.limit ?? 100,
        (rows) =>
          listVersions(deps.db, model, {
            limit: rows,
            ...(query.state === undefined ? {} : { states: [query.state] }),
            ...(query.cursor === undefined ? {} : { belowNumber: query.cursor }),
          }),
        versionSummary,
        (last) => String(last.number),
      ),
    );
  });

  router.get('/v1/models/:model/versions/:version', requireScope('read'), async (req, res) => {
    const { model, version } = parseRequest(versionParams, req.params, 'params');
    res.json(versionDetail(await resolveVersion(deps.db, model, version)));
  });

  router.post('/v1/models/:model/versions', requireScope('admin'), requireCsv, async (req, res) => {
    const { model } = parseRequest(modelParam, req.params, 'params');
    const declared = Number(req.get('content-length') ?? Number.NaN);
    if (declared > deps.maxImportBytes) {
      throw new HttpError(
        413,
        `the CSV is ${declared} bytes; the limit is ${deps.maxImportBytes} (ALMANAC_MAX_IMPORT_BYTES)`,
      );
    }
    try {
      const outcome = await importCsv(
        { db: deps.db, pool: deps.pool },
        model,
        limitedBody(req, deps.maxImportBytes),
        req.caller?.actor ?? 'api',
      );
      await deps.catalog.reload(model);
      res.status(201).json(versionSummary(outcome.version));
    } catch (error) {
      if (error instanceof ImportRejectedError) {
        sendProblem(res, 400, `the CSV was rejected: ${error.total} problem(s)`, {
          errors: error.problems.map((p) => ({
            path: `line ${p.line}${p.field === '' ? '' : `.${p.field}`}`,
            ...p,
          })),
        });
        return;
      }
      throw error;
    }
  });

  for (const [action, act] of [
    ['publish', publishVersion],
    ['reject', rejectVersion],
  ] as const) {
    router.post(
      `/v1/models/:model/versions/:version/${action}`,
      requireScope('admin'),
      optionalJson,
      async (req, res) => {
        const params = parseRequest(versionNumberParams, req.params, 'params');
        const body = parseRequest(decisionBody, req.body ?? {}, 'body');
        const done = await act(deps.db, params.model, params.version, {
          actor: req.caller?.actor ?? 'api',
          reason: body.reason,
        });
        await deps.catalog.reload(params.model);
        res.json(versionSummary(done));
      },
    );
  }

  return router;
}

/**
 * The request body as a stream that fails (413) past `limit` bytes, whatever Content-Length
 * claimed, and fails too when the client goes away half-way.
 */
function limitedBody(req: Request, limit: number): Transform {
  let seen = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > limit)
        done(new HttpError(413, `the CSV is larger than ${limit} bytes (ALMANAC_MAX_IMPORT_BYTES)`));
      else done(null, chunk);
    },
  });
  req.on('error', (error) => limited.destroy(error));
  req.on('close', () => {
    if (!req.complete)
      limited.destroy(new Error('the client closed the connection before the CSV was complete'));
  });
  return req.pipe(limited);
}
