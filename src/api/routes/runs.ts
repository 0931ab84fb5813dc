import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { findRun, listRuns } from '../../db/runs.ts';
import { NotFoundError, UnavailableError } from '../../errors.ts';
import { type EnqueueRefresh, requestRefresh } from '../../runs/request.ts';
import { requireModel } from '../../versions/resolve.ts';
import { requireScope } from '../auth.ts';
import { page } from '../page.ts';
import { limitQuery, modelParam } from '../params.ts';
import { parseRequest } from '../validate.ts';
import { runView } from '../views.ts';

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

/** The queue as the API needs it: enqueue (fails fast when Redis is down) and whether it is up. */
export type QueueAccess = { enqueue: EnqueueRefresh; ready: () => boolean };

export function runsRouter(deps: { db: Db; queue: QueueAccess }): Router {
  const router = Router();

  router.get('/v1/models/:model/runs', requireScope('read'), async (req, res) => {
    const { model } = parseRequest(modelParam, req.params, 'params');
    const query = parseRequest(runListQuery, req.query, 'query');
    await requireModel(deps.db, model);
    res.json(
      await page(
        query.limit ?? 100,
        (rows) =>
          listRuns(deps.db, model, {
            limit: rows,
            ...(query.cursor === undefined ? {} : { before: query.cursor }),
          }),
        runView,
        (last) => Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url'),
      ),
    );
  });

  router.post('/v1/models/:model/runs', requireScope('admin'), async (req, res) => {
    const { model } = parseRequest(modelParam, req.params, 'params');
    // Checked first, so that no run is created for a queue that is down.
    if (!deps.queue.ready())
      throw new UnavailableError('the job queue (Redis) is not reachable; try again shortly');
    const { run } = await requestRefresh(deps.db, deps.queue.enqueue, {
      model,
      trigger: req.caller?.actor ?? 'api',
    });
    res.status(202).location(`/v1/runs/${run.id}`).json({ runId: run.id, slot: run.slot, state: run.state });
  });

  router.get('/v1/runs/:runId', requireScope('read'), async (req, res) => {
    const { runId } = parseRequest(runParams, req.params, 'params');
    const run = await findRun(deps.db, runId);
    if (run === undefined) throw new NotFoundError(`run ${runId} does not exist`);
    res.json(runView(run));
  });

  return router;
}
