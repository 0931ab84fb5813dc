import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { copyKeyChangesCsv } from '../../db/key-changes.ts';
import { hasSqlState, PgError } from '../../db/pg-errors.ts';
import { resolveDiff } from '../../drift/diff.ts';
import { driftReport } from '../../drift/report.ts';
import { GoneError, NotFoundError } from '../../errors.ts';
import { resolveVersion } from '../../versions/resolve.ts';
import { requireScope } from '../auth.ts';
import { streamFromConnection } from '../copy-response.ts';
import { modelParam, versionParams, versionText } from '../params.ts';
import type { ReportCache } from '../report-cache.ts';
import { parseRequest } from '../validate.ts';

export const diffQuery = z
  .object({
    from: versionText,
    to: versionText,
    format: z.enum(['json', 'csv'], { error: 'must be json or csv' }).optional(),
  })
  .strict();

/** The stored drift report of a version, and the report or per-key changes between any two. */
export function driftRouter(deps: { db: Db; pool: pg.Pool; reports: ReportCache }): Router {
  const router = Router();

  router.get('/v1/models/:model/versions/:version/drift', requireScope('read'), async (req, res) => {
    const { model, version } = parseRequest(versionParams, req.params, 'params');
    const found = await resolveVersion(deps.db, model, version);
    if (found.drift === null) {
      throw new NotFoundError(
        `version ${found.number} of "${model}" is ${found.state} and has no drift report; the gate writes one before publishing`,
      );
    }
    res.json(found.drift);
  });

  router.get('/v1/models/:model/diff', requireScope('read'), async (req, res) => {
    const { model } = parseRequest(modelParam, req.params, 'params');
    const query = parseRequest(diffQuery, req.query, 'query');
    const diff = await resolveDiff(deps.db, model, query.from, query.to);
    // The status of a key depends on the policy's tolerance, which can change: revalidate.
    res.set({ 'Cache-Control': 'no-cache' });
    try {
      if (query.format !== 'csv') {
        res.json(
          await deps.reports.get(diff.from.id, diff.to.id, diff.policy, () =>
            driftReport(deps.db, diff.from, diff.to, diff.policy),
          ),
        );
        return;
      }
      res.set({
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="${model}-v${diff.from.number}-v${diff.to.number}-changes.csv"`,
      });
      await streamFromConnection(deps.pool, res, (client) =>
        pipeline(copyKeyChangesCsv(client, diff.from.id, diff.to.id, diff.policy.changeTolerance), res),
      );
    } catch (error) {
      // Retention may drop either version's rows between the lookup and the queries.
      if (hasSqlState(error, PgError.undefinedTable)) {
        throw new GoneError(
          `version ${diff.from.number} or ${diff.to.number} of "${model}" was pruned by retention while it was compared`,
        );
      }
      throw error;
    }
  });

  return router;
}
