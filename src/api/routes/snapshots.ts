import { Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { contentTypes, snapshotFormat, writeSnapshot } from '../../snapshots/write-snapshot.ts';
import { requireScope } from '../auth.ts';
import type { Catalog } from '../catalog.ts';
import { streamFromConnection } from '../copy-response.ts';
import type { Metrics } from '../metrics.ts';
import { versionParams } from '../params.ts';
import { servedVersion } from '../served-version.ts';
import { parseRequest } from '../validate.ts';

export const snapshotQuery = z.object({ format: snapshotFormat.optional() }).strict();

/** A whole version streamed straight to the socket, with backpressure. */
export function snapshotsRouter(deps: { pool: pg.Pool; catalog: Catalog; metrics: Metrics }): Router {
  const router = Router();
  router.get('/v1/models/:model/versions/:version/snapshot', requireScope('read'), async (req, res) => {
    const { model, version: requested } = parseRequest(versionParams, req.params, 'params');
    const { format = 'csv' } = parseRequest(snapshotQuery, req.query, 'query');
    const { version } = await servedVersion(deps.catalog, model, requested);
    res.set({
      'Content-Type': contentTypes[format],
      'Content-Disposition': `attachment; filename="${model}-v${version.number}.${format}"`,
      'Estimate-Version': String(version.number),
      'Cache-Control': requested === 'latest' ? 'no-cache' : 'public, max-age=31536000, immutable',
    });
    await streamFromConnection(deps.pool, res, (client) =>
      writeSnapshot(client, version.id, format, res, (bytes) =>
        deps.metrics.snapshotBytes.inc({ model, format }, bytes),
      ),
    );
  });
  return router;
}
