import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { driftReportSchema } from '../../db/json-columns.ts';
import { copyKeyChangesCsv } from '../../db/key-changes.ts';
import { asPruned } from '../../db/partitions.ts';
import { resolveDiff } from '../../drift/diff.ts';
import { NotFoundError } from '../../errors.ts';
import { resolveVersion } from '../../versions/resolve.ts';
import { catalogEntryOf } from '../catalog.ts';
import { CACHE_REVALIDATE } from '../headers.ts';
import { modelParam, versionParams, versionText } from '../params.ts';
import { headers, json, problem } from '../responses.ts';
import { defineRoute } from '../route.ts';

export const diffQuery = z
  .object({
    from: versionText.describe('the baseline A: a version number, or "latest"'),
    to: versionText.describe('the candidate B: a version number, or "latest"'),
    format: z.enum(['json', 'csv'], { error: 'must be json or csv' }).optional(),
  })
  .strict();

/** The stored drift report of a version, and the report or per-key changes between any two. */
export const driftRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/versions/{version}/drift',
    operationId: 'getVersionDrift',
    summary: 'The drift report the gate stored for a version, against the version published then',
    access: 'read',
    params: versionParams,
    responses: { 200: json(driftReportSchema, 'the stored report') },
    handle: async ({ params }, { res, deps }) => {
      const found = await resolveVersion(deps.db, params.model, params.version);
      if (found.drift === null) {
        throw new NotFoundError(
          `version ${found.number} of "${params.model}" is ${found.state} and has no drift report; the gate writes one before publishing`,
        );
      }
      res.json(found.drift);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/diff',
    operationId: 'getDiff',
    summary: "The drift report between any two versions under the model's policy, or their per-key changes",
    access: 'read',
    params: modelParam,
    query: diffQuery,
    responses: {
      200: {
        description: 'the report (JSON), or every key with its change (CSV, key order)',
        content: {
          'application/json': { schema: driftReportSchema },
          'text/csv': {
            schema: z
              .string()
              .describe('key,a,b,change,relative_change,status (changed, unchanged, added, removed)'),
          },
        },
      },
      410: problem('a version was pruned by retention'),
      503: problem('too many reports are being computed, or one took too long; try again', {
        'Retry-After': headers.retryAfter,
      }),
    },
    handle: async ({ params, query }, { res, deps }) => {
      const { model } = params;
      const diff = await resolveDiff(deps.db, model, query.from, query.to);
      // The status of a key depends on the policy's tolerance, which can change: revalidate.
      res.set({ 'Cache-Control': CACHE_REVALIDATE });
      try {
        if (query.format !== 'csv') {
          res.json(await deps.reports.reportOf(deps, diff));
          return;
        }
        res.set({
          'Content-Type': 'text/csv; charset=utf-8',
          'Content-Disposition': `attachment; filename="${model}-v${diff.from.number}-v${diff.to.number}-changes.csv"`,
        });
        const versions = [diff.from, diff.to].map((version) => catalogEntryOf(deps.catalog, model, version));
        await deps.reads.stream(versions, res, (client) =>
          pipeline(copyKeyChangesCsv(client, diff.from.id, diff.to.id, diff.policy.changeTolerance), res),
        );
      } catch (error) {
        // retention may drop either version's rows between the lookup and the COPY
        throw asPruned(error);
      }
    },
  }),
];
