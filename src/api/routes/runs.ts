import { z } from 'zod';
import { listRunShards } from '../../db/run-shards.ts';
import { findRun, listRuns } from '../../db/runs.ts';
import { NotFoundError, UnavailableError } from '../../errors.ts';
import { requestRefresh } from '../../runs/request.ts';
import { modelPage } from '../page.ts';
import { limitQuery, modelParam } from '../params.ts';
import { headers, json, page as pageOf, problem, Run, RunDetail, RunQueued } from '../responses.ts';
import { defineRoute } from '../route.ts';
import { runDetailView, runView } from '../views.ts';

const CURSOR = 'must be the nextCursor of a previous page';

export const runListQuery = z
  .object({
    limit: limitQuery.optional(),
    cursor: z
      .string()
      .transform((text, ctx) => {
        const decoded = Buffer.from(text, 'base64url').toString('utf8');
        const [at, id] = decoded.split('|');
        const createdAt = new Date(at ?? '');
        if (Number.isNaN(createdAt.getTime()) || !z.uuid().safeParse(id).success) {
          ctx.addIssue({ code: 'custom', message: CURSOR });
          return z.NEVER;
        }
        return { createdAt, id: id as string };
      })
      .optional(),
  })
  .strict();

export const runParams = z.object({ runId: z.uuid('must be a run id (a UUID)') });

export const runRequestBody = z
  .object({
    forceInputs: z
      .boolean({ error: 'must be true or false' })
      .optional()
      .describe('go past failed input checks: score as usual; the lineage says the run was forced'),
  })
  .strict();

export const runRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/runs',
    operationId: 'listRuns',
    summary: 'Runs, newest first',
    access: 'read',
    params: modelParam,
    query: runListQuery,
    responses: { 200: json(pageOf(Run), 'a page of runs') },
    handle: async ({ params, query }, { res, deps }) => {
      res.json(
        await modelPage(deps.db, params.model, query.limit, {
          fetch: (rows) =>
            listRuns(deps.db, params.model, {
              limit: rows,
              ...(query.cursor === undefined ? {} : { before: query.cursor }),
            }),
          view: runView,
          cursorOf: (last) => Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url'),
        }),
      );
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/models/{model}/runs',
    operationId: 'requestRun',
    summary: 'Request a refresh now; a worker runs it',
    access: 'admin',
    params: modelParam,
    body: { type: 'application/json', schema: runRequestBody, required: false },
    responses: {
      202: json(RunQueued, 'queued; follow it at the Location', {
        Location: { description: 'the run: /v1/runs/{runId}', schema: { type: 'string' } },
      }),
      409: problem('an external model: its versions are imported, not refreshed'),
      503: problem('the job queue (Redis) is not reachable', { 'Retry-After': headers.retryAfter }),
    },
    handle: async ({ params, body }, { req, res, deps }) => {
      // Checked first, so that no run is created for a queue that is down.
      if (!deps.queue.ready())
        throw new UnavailableError('the job queue (Redis) is not reachable; try again shortly');
      const { run } = await requestRefresh(deps.db, deps.queue.enqueue, {
        model: params.model,
        trigger: req.caller?.actor ?? 'api',
        forceInputs: body.forceInputs ?? false,
      });
      res
        .status(202)
        .location(`/v1/runs/${run.id}`)
        .json({ runId: run.id, slot: run.slot, state: run.state });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/runs/{runId}',
    operationId: 'getRun',
    summary: 'A run: state, phase, progress, the version it produced, its shards',
    access: 'read',
    params: runParams,
    responses: { 200: json(RunDetail, 'the run') },
    handle: async ({ params }, { res, deps }) => {
      const run = await findRun(deps.db, params.runId);
      if (run === undefined) throw new NotFoundError(`run ${params.runId} does not exist`);
      res.json(runDetailView(run, await listRunShards(deps.db, run.id)));
    },
  }),
];
