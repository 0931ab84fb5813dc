import { Transform, type TransformCallback } from 'node:stream';
import type { Request } from 'express';
import { z } from 'zod';
import { pinsOfVersion } from '../../db/pins.ts';
import { VERSION_STATES } from '../../db/types.ts';
import type { Version } from '../../db/versions.ts';
import { listVersions } from '../../db/versions.ts';
import { HttpError } from '../../errors.ts';
import { importCsv } from '../../imports/import-csv.ts';
import {
  type Decision,
  decisionReason,
  publishFrom,
  publishVersion,
  rejectVersion,
} from '../../versions/publish.ts';
import { resolveVersion } from '../../versions/resolve.ts';
import { declaredOver } from '../body-limit.ts';
import { modelPage } from '../page.ts';
import { limitQuery, modelParam, versionNumberParams, versionParams } from '../params.ts';
import { json, page as pageOf, problem, VersionDetail, VersionSummary } from '../responses.ts';
import { type ApiDeps, defineRoute } from '../route.ts';
import { versionDetail, versionSummary } from '../views.ts';

export const versionListQuery = z
  .object({
    state: z.enum(VERSION_STATES, { error: `must be one of ${VERSION_STATES.join(', ')}` }).optional(),
    limit: limitQuery.optional(),
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,9}$/, 'must be the nextCursor of a previous page')
      .transform(Number)
      // a cursor is a version number: within Postgres' integer, as every version number is
      .refine((number) => number <= 2_147_483_647, 'must be the nextCursor of a previous page')
      .optional(),
  })
  .strict();

export const decisionBody = z.object({ reason: decisionReason.optional() }).strict();

/** A publish may say which it means: approve (`from: "held"`) or roll back (`from: "superseded"`). */
export const publishBody = decisionBody
  .extend({
    from: publishFrom
      .optional()
      .describe('publish only if the version is still in this state (a stale page or script then gets 409)'),
  })
  .strict();

/**
 * Publishes (approves, rolls back) or rejects a version, then serves what that changed at once:
 * the API's routes and the dashboard's buttons both decide through here.
 */
export async function decideVersion(
  deps: Pick<ApiDeps, 'db' | 'pool' | 'logger' | 'catalog'>,
  action: 'publish' | 'reject',
  model: string,
  number: number,
  decision: Decision,
): Promise<Version> {
  const act = action === 'publish' ? publishVersion : rejectVersion;
  const done = await act({ db: deps.db, pool: deps.pool, logger: deps.logger }, model, number, decision);
  await deps.catalog.reload(model);
  return done;
}

const decisions = (['publish', 'reject'] as const).map((action) =>
  defineRoute({
    method: 'post',
    path: `/v1/models/{model}/versions/{version}/${action}`,
    operationId: `${action}Version`,
    summary:
      action === 'publish'
        ? 'Approve a held version or roll back to a superseded one (retention then runs, as after any publish)'
        : 'Reject a held version: it will never be published',
    access: 'admin',
    params: versionNumberParams,
    body: {
      type: 'application/json',
      schema: action === 'publish' ? publishBody : decisionBody,
      required: false,
    },
    responses: {
      200: json(VersionSummary, 'done'),
      409: problem('the version is not in a state this applies to (or not in the state `from` names)'),
      410: problem('the version was pruned by retention'),
    },
    handle: async ({ params, body }, { req, res, deps }) => {
      const done = await decideVersion(deps, action, params.model, params.version, {
        actor: req.caller?.actor ?? 'api',
        reason: body.reason,
        // the publish route's body is publishBody's: the one with `from`
        from: action === 'publish' ? (body as z.output<typeof publishBody>).from : undefined,
      });
      res.json(versionSummary(done));
    },
  }),
);

export const versionRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/versions',
    operationId: 'listVersions',
    summary: 'Versions, newest first',
    access: 'read',
    params: modelParam,
    query: versionListQuery,
    responses: { 200: json(pageOf(VersionSummary), 'a page of versions') },
    handle: async ({ params, query }, { res, deps }) => {
      res.json(
        await modelPage(deps.db, params.model, query.limit, {
          fetch: (rows) =>
            listVersions(deps.db, params.model, {
              limit: rows,
              ...(query.state === undefined ? {} : { states: [query.state] }),
              ...(query.cursor === undefined ? {} : { belowNumber: query.cursor }),
            }),
          view: versionSummary,
          cursorOf: (last) => String(last.number),
        }),
      );
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/versions/{version}',
    operationId: 'getVersion',
    summary: 'One version with its whole lineage; `version` is a number or "latest"',
    access: 'read',
    params: versionParams,
    responses: { 200: json(VersionDetail, 'the version') },
    handle: async ({ params }, { res, deps }) => {
      const version = await resolveVersion(deps.db, params.model, params.version);
      res.json(versionDetail(version, await pinsOfVersion(deps.db, version.id)));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/models/{model}/versions',
    operationId: 'importVersion',
    summary:
      'Import a version of an external model from a CSV body (`key,value[,lower,upper][,as_of]` with a header)',
    access: 'admin',
    params: modelParam,
    body: { type: 'text/csv', required: true },
    responses: {
      201: json(VersionSummary, 'imported: published, or held by the drift gate'),
      409: problem('not an external model'),
      413: problem('larger than ALMANAC_MAX_IMPORT_BYTES'),
    },
    handle: async ({ params }, { req, res, deps }) => {
      const refused = declaredOver(req, deps.maxImportBytes, 'CSV', 'ALMANAC_MAX_IMPORT_BYTES');
      if (refused !== undefined) throw refused;
      // a rejected file is a ValidationError whose issues name each line and field
      const outcome = await importCsv(
        { db: deps.db, pool: deps.pool, logger: deps.logger },
        params.model,
        limitedBody(req, deps.maxImportBytes),
        req.caller?.actor ?? 'api',
      );
      await deps.catalog.reload(params.model);
      res.status(201).json(versionSummary(outcome.version));
    },
  }),
  ...decisions,
];

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
  // a client that goes away half-way sent a request that cannot be used: a 400, not an outage
  const cut = (cause?: unknown) =>
    limited.destroy(
      new HttpError(400, 'the client closed the connection before the CSV was complete', { cause }),
    );
  req.on('error', cut);
  req.on('close', () => {
    if (!req.complete) cut();
  });
  return req.pipe(limited);
}
