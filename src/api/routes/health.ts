import { Router } from 'express';
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { gateRegistry } from '../../drift/alerts.ts';
import { within } from '../../within.ts';
import type { Metrics } from '../metrics.ts';
import { openApiDocument } from '../openapi.ts';

export function healthRouter(deps: { db: Db; metrics: Metrics; redisPing: () => Promise<unknown> }): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const check = async (work: () => Promise<unknown>) => {
      try {
        await within(2_000, work());
        return 'ok';
      } catch (error) {
        return `down: ${(error as Error).message}`;
      }
    };
    const [postgres, redis] = await Promise.all([
      check(() => sql`SELECT 1`.execute(deps.db)),
      check(deps.redisPing),
    ]);
    const ready = postgres === 'ok' && redis === 'ok';
    const down = [postgres === 'ok' ? undefined : 'postgres', redis === 'ok' ? undefined : 'redis'].filter(
      Boolean,
    );
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : `not ready: ${down.join(' and ')} down`,
      checks: { postgres, redis },
    });
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });

  router.get('/metrics', async (_req, res) => {
    // The gate's counters live in their own registry: imports through this API count there too.
    const [own, gate] = await Promise.all([deps.metrics.registry.metrics(), gateRegistry.metrics()]);
    res.type(deps.metrics.registry.contentType).send(`${own}${gate}`);
  });

  return router;
}
