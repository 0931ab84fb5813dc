import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionName } from '../../src/db/partitions.ts';
import { findVersion } from '../../src/db/versions.ts';
import { startTestApi, type TestApi } from '../helpers/api.ts';
import { useConnections, useMarket, useRedisPrefix, useTestDatabase } from '../helpers/hooks.ts';
import { applySpec, demoSpec, lenientDrift, startPipeline } from '../helpers/pipeline.ts';

const database = useTestDatabase('fault-slow-diff');
const { db, pool } = useConnections(database);
const prefix = useRedisPrefix();
const market = useMarket({ pool }, { keys: 2_000, days: 30, seed: 3 });
let api: TestApi;

beforeAll(async () => {
  await applySpec(db(), demoSpec({ drift: lenientDrift }));
  const pipeline = await startPipeline(database.url, prefix.current);
  try {
    expect((await pipeline.refresh('prices')).state).toBe('succeeded');
    await market.advance(1);
    expect((await pipeline.refresh('prices')).state).toBe('succeeded');
  } finally {
    await pipeline.close();
  }
  api = await startTestApi(database.url, 'almanac-test-no-queue', {
    env: { ALMANAC_REPORT_TIMEOUT_MS: '1000' },
  });
});
afterAll(async () => {
  await api?.close();
});

describe('a drift report that runs too long', () => {
  it('is cancelled by its statement timeout: 503 with Retry-After, while the API goes on answering', async () => {
    const first = await findVersion(db(), 'prices', 1);
    // another session holds version 1's table: every query of the report waits on it
    const blocker = await pool().connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${partitionName(first?.id ?? '')} IN ACCESS EXCLUSIVE MODE`);
      const started = Date.now();
      const slow = await api.json('/v1/models/prices/diff?from=1&to=2');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(slow.status).toBe(503);
      expect(slow.headers.get('retry-after')).toBe('5');
      expect(slow.headers.get('content-type')).toContain('application/problem+json');
      expect(slow.body.detail).toBe(
        'the report between versions 1 and 2 of "prices" took longer than 1000 ms and was cancelled; try again shortly',
      );
      // the API stays up and serves the published version meanwhile
      const lookup = await api.json('/v1/models/prices/versions/latest');
      expect(lookup).toMatchObject({ status: 200, body: { version: 2 } });
      expect((await api.request('/healthz')).status).toBe(200);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    // a failed report is not cached: once the table is free the same request answers
    const report = await api.json('/v1/models/prices/diff?from=1&to=2');
    expect(report).toMatchObject({
      status: 200,
      body: { baseline: { version: 1 }, candidate: { version: 2 } },
    });
  });
});
