import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, lenientDrift } from './helpers/pipeline.ts';

/**
 * Accuracy as served on a case small enough to check by hand: three versions with set realized
 * figures, live over hand-set publication intervals, one of them starting at a day's very last
 * millisecond (so that day counts for it).
 */

const setup = useTestSetup('served-accuracy');
let api: TestApi;

beforeAll(async () => {
  await applySpec(setup.db(), { name: 's', estimator: 'external', drift: lenientDrift });
  for (const scale of [1, 2, 3])
    await importCsv(setup.runtime(), 's', readableOf(`key,value\nA,${scale}\n`), 'test');
  const realized = (mae: number, naiveMae: number, rows: number) => JSON.stringify({ mae, naiveMae, rows });
  await sql`UPDATE versions SET realized = CASE number
      WHEN 1 THEN ${realized(2, 3, 10)}::jsonb WHEN 2 THEN ${realized(4, 5, 20)}::jsonb
      ELSE ${realized(6, 6, 5)}::jsonb END
    WHERE model = 's'`.execute(setup.db());
  await sql`DELETE FROM publications WHERE model = 's'`.execute(setup.db());
  await sql`INSERT INTO publications (model, version_id, valid_from, valid_to, actor)
    SELECT 's', id, f::timestamptz, t::timestamptz, 'test'
    FROM versions JOIN (VALUES
      (1, '2026-03-01T12:00:00Z', '2026-03-03T00:00:00Z'),
      (2, '2026-03-03T00:00:00Z', '2026-03-04T23:59:59.999Z'),
      (3, '2026-03-04T23:59:59.999Z', NULL)) AS w(n, f, t) ON number = n
    WHERE model = 's'`.execute(setup.db());
  api = await startTestApi(setup.database.url, setup.prefix.current);
}, 60_000);
afterAll(async () => {
  await api?.close();
});

describe('accuracy as served', () => {
  it("takes each day's version from the history at the day's end, and averages over the days that had one", async () => {
    const res = await api.json('/v1/models/s/accuracy?days=6&to=2026-03-05');
    expect(res.status).toBe(200);
    expect(res.body.days).toEqual([
      { day: '2026-02-28', version: null, mae: null, naiveMae: null, rows: 0 },
      { day: '2026-03-01', version: 1, mae: 2, naiveMae: 3, rows: 10 },
      { day: '2026-03-02', version: 1, mae: 2, naiveMae: 3, rows: 10 },
      { day: '2026-03-03', version: 2, mae: 4, naiveMae: 5, rows: 20 },
      { day: '2026-03-04', version: 3, mae: 6, naiveMae: 6, rows: 5 },
      { day: '2026-03-05', version: 3, mae: 6, naiveMae: 6, rows: 5 },
    ]);
    // (2 + 2 + 4 + 6 + 6) / 5 and (3 + 3 + 5 + 6 + 6) / 5
    expect(res.body.servedMae).toBeCloseTo(4, 12);
    expect(res.body.servedNaiveMae).toBeCloseTo(4.6, 12);
  });

  it('answers nulls for a window before the first publish, and validates its query', async () => {
    const before = await api.json('/v1/models/s/accuracy?days=2&to=2026-02-01');
    expect(before.body).toMatchObject({ servedMae: null, servedNaiveMae: null });
    expect(before.body.days).toHaveLength(2);
    const bad = await api.json('/v1/models/s/accuracy?days=0&to=March');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['query.days', 'query.to']);
    expect((await api.json('/v1/models/nope/accuracy')).status).toBe(404);
    // the default window is the 30 days ending today
    const recent = await api.json('/v1/models/s/accuracy');
    expect(recent.body.days).toHaveLength(30);
    expect(recent.body.days.at(-1)).toMatchObject({ day: new Date().toISOString().slice(0, 10), version: 3 });
  });

  it('counts no day after today as served, and refuses a window before 1970 naming query.to', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const ahead = await api.json(`/v1/models/s/accuracy?days=2&to=${tomorrow}`);
    expect(ahead.status).toBe(200);
    expect(ahead.body.days.map((day: { version: number | null }) => day.version)).toEqual([3, null]);
    expect(ahead.body.servedMae).toBe(6);
    for (const to of ['0001-01-01', '1969-12-31']) {
      const early = await api.json(`/v1/models/s/accuracy?days=366&to=${to}`);
      expect(early.status).toBe(400);
      expect(early.body.errors).toEqual([{ path: 'query.to', message: 'must be a day from 1970-01-01 on' }]);
    }
    expect((await api.json('/v1/models/s/accuracy?days=366&to=1970-01-01')).status).toBe(200);
    // a day that is no day is said once, not also as one before 1970
    const unreal = await api.json('/v1/models/s/accuracy?to=1969-02-30');
    expect(unreal.body.errors).toEqual([{ path: 'query.to', message: 'must be a day, e.g. 2026-05-01' }]);
  });
});
