import { z } from 'zod';
import { contentTypes, snapshotFormat, writeSnapshot } from '../../snapshots/write-snapshot.ts';
import { versionWithRows } from '../../versions/resolve.ts';
import { catalogEntryOf } from '../catalog.ts';
import { cacheControl, ESTIMATE_VERSION } from '../headers.ts';
import { versionParams } from '../params.ts';
import { headers, problem } from '../responses.ts';
import { defineRoute } from '../route.ts';

export const snapshotQuery = z
  .object({ format: snapshotFormat.optional().describe('csv (the default), ndjson or parquet') })
  .strict();

/** A whole version streamed straight to the socket, with backpressure. */
export const snapshotRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/models/{model}/versions/{version}/snapshot',
    operationId: 'getSnapshot',
    summary: 'A whole version in key order, streamed as CSV, NDJSON or Parquet (held and rejected ones too)',
    access: 'read',
    params: versionParams,
    query: snapshotQuery,
    responses: {
      200: {
        description: 'every row, in key order; `as_of` is ISO 8601 UTC (Parquet: a UTC-adjusted timestamp)',
        headers: { [ESTIMATE_VERSION]: headers.estimateVersion, 'Cache-Control': headers.cacheControl },
        content: {
          'text/csv': { schema: z.string().describe('key,value,lower,upper,as_of') },
          'application/x-ndjson': {
            schema: z.string().describe('one {key, value, lower, upper, asOf} a line'),
          },
          'application/vnd.apache.parquet': {
            schema: z.string().describe('key-value metadata: model, version, checksum, created, lineage'),
          },
        },
      },
      410: problem('the version was pruned by retention'),
    },
    handle: async ({ params, query }, { res, deps }) => {
      const format = query.format ?? 'csv';
      const version = await versionWithRows(deps.db, params.model, params.version);
      res.set({
        'Content-Type': contentTypes[format],
        'Content-Disposition': `attachment; filename="${params.model}-v${version.number}.${format}"`,
        [ESTIMATE_VERSION]: String(version.number),
        'Cache-Control': cacheControl(params.version !== 'latest'),
      });
      await deps.reads.stream([catalogEntryOf(deps.catalog, params.model, version)], res, (client) =>
        writeSnapshot(client, version, format, res, (bytes) =>
          deps.metrics.snapshotBytes.inc({ model: params.model, format }, bytes),
        ),
      );
    },
  }),
];
