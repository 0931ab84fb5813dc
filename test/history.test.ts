import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { publishVersion } from '../src/versions/publish.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, silentLogger } from './helpers/pipeline.ts';

/**
 * Time travel: three publishes and a rollback make four publication intervals; a lookup `?at=` an
 * instant answers from the version whose interval holds it, at the exact boundaries (`validFrom`
 * inclusive, `validTo` exclusive), on the Express path (auth off) and the fast path in front of it
 * (a verified key), for single lookups, batches and the CLI alike.
 */

const setup = useTestSetup('history');
let open: TestApi;
let guarded: TestApi;
let key = '';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
type Json = Record<string, any>;
type Interval = {
  version: number;
  validFrom: string;
  validTo: string | null;
  actor: string;
  reason: string | null;
};
let intervals: Interval[] = [];

const csv = (scale: number) =>
  `key,value\n${['A', 'B', 'C'].map((k, i) => `${k},${(i + 1) * scale}`).join('\n')}\n`;
const shift = (iso: string, ms: number) => new Date(new Date(iso).getTime() + ms).toISOString();

beforeAll(async () => {
  const db = setup.db();
  await applySpec(db, {
    name: 'h',
    estimator: 'external',
    drift: { maxPsi: 1e6, maxKs: 1, maxWassersteinNorm: 1e6, maxChangedShare: 1 },
  });
  for (const scale of [1, 2, 3]) await importCsv(setup.runtime(), 'h', readableOf(csv(scale)), 'test');
  await publishVersion({ db, pool: setup.pool(), logger: silentLogger }, 'h', 2, {
    actor: 'cli:ops',
    reason: 'v3 was wrong',
  });
  key = await createApiKey(db, 'reader', 'read');
  open = await startTestApi(setup.database.url, setup.prefix.current);
  guarded = await startTestApi(setup.database.url, setup.prefix.current, { auth: true });
}, 60_000);
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

describe('publication history', () => {
  it('lists every interval, newest first, from one instant per flip truncated to milliseconds', async () => {
    const history = await open.json('/v1/models/h/history');
    expect(history.status).toBe(200);
    intervals = history.body.items;
    expect(intervals.map((i) => [i.version, i.validTo === null])).toEqual([
      [2, true],
      [3, false],
      [2, false],
      [1, false],
    ]);
    expect(intervals[0]).toMatchObject({ actor: 'cli:ops', reason: 'v3 was wrong' });
    // each interval ends where the next begins
    for (let i = 1; i < intervals.length; i += 1)
      expect(intervals[i]?.validTo).toBe(intervals[i - 1]?.validFrom);
    // the stored instants have no microseconds, and a version's published_at is its interval's start
    const { rows } = await sql<{ micro: number; same: boolean }>`
      SELECT extract(microseconds FROM p.valid_from)::int % 1000 AS micro, v.published_at = p.valid_from AS same
      FROM publications p JOIN versions v ON v.id = p.version_id
      WHERE p.model = 'h' AND p.valid_to IS NULL`.execute(setup.db());
    expect(rows).toEqual([{ micro: 0, same: true }]);
    // paged
    const first = await open.json('/v1/models/h/history?limit=3');
    expect(first.body.items).toHaveLength(3);
    const rest = await open.json(`/v1/models/h/history?limit=3&cursor=${first.body.nextCursor}`);
    expect(rest.body).toEqual({ items: [intervals[3]], nextCursor: null });
    expect((await open.json('/v1/models/h/history?cursor=nope')).status).toBe(400);
    expect((await open.json('/v1/models/nope/history')).status).toBe(404);
  });

  for (const path of ['the Express app (auth off)', 'the fast path (a verified key)'] as const) {
    it(`answers ?at= from the version live then, at the exact boundaries, on ${path}`, async () => {
      const api = path.startsWith('the Express') ? open : guarded;
      const headers: Record<string, string> = api === guarded ? { authorization: `Bearer ${key}` } : {};
      const lookup = async (at: string) => {
        const res = await api.request(`/v1/models/h/estimates/B?at=${encodeURIComponent(at)}`, { headers });
        const body = (await res.json()) as Json;
        return { status: res.status, version: body.version, cache: res.headers.get('cache-control'), body };
      };
      await lookup(intervals[0]?.validFrom ?? ''); // a lookup verifies the key: the next take the fast path
      for (const interval of intervals) {
        const from = await lookup(interval.validFrom);
        expect(from.version, `at ${interval.validFrom}`).toBe(interval.version);
        if (interval.validTo !== null) {
          const last = await lookup(shift(interval.validTo, -1));
          expect(last.version).toBe(interval.version);
          expect(last.cache).toContain('immutable');
          // validTo is exclusive: the next interval's version answers
          const next = intervals[intervals.indexOf(interval) - 1];
          expect((await lookup(interval.validTo)).version).toBe(next?.version);
        }
      }
      // up to six fractional digits, and an offset: the same instant
      const start = new Date(intervals[1]?.validFrom ?? '');
      const local = `${new Date(start.getTime() + 2 * 3600_000).toISOString().slice(0, 23)}999+02:00`;
      expect((await lookup(local)).version).toBe(intervals[1]?.version);
      // the open interval and the future may still change
      const future = await lookup('2999-01-01T00:00:00Z');
      expect(future.version).toBe(2);
      expect(future.cache).toBe('no-cache');
      // before the first publish
      const before = await lookup(shift(intervals.at(-1)?.validFrom ?? '', -1));
      expect(before.status).toBe(404);
      expect(before.body.detail).toMatch(/published nothing before .*its first publish/);
      // bad input names the field
      for (const bad of ['yesterday', '2026-05-01T16:00:00', '2026-05-01T16:00:00.1234567Z']) {
        const res = await lookup(bad);
        expect(res.status, bad).toBe(400);
        expect(res.body.errors[0].path).toBe('query.at');
      }
      const both = await api.request(`/v1/models/h/estimates/B?version=1&at=2999-01-01T00:00:00Z`, {
        headers,
      });
      expect(both.status).toBe(400);
      expect(((await both.json()) as Json).errors).toEqual([
        { path: 'query.at', message: 'give version or at, not both' },
      ]);
      // a batch takes "at" in its body
      const batch = await api.post(
        '/v1/models/h/estimates/batch',
        { keys: ['A', 'C', 'Z'], at: shift(intervals[1]?.validTo ?? '', -1) },
        headers,
      );
      expect(batch.body).toMatchObject({ version: 3, missing: ['Z'] });
      expect(batch.body.estimates.map((e: Json) => e.value)).toEqual([3, 9]);
      expect(batch.headers.get('cache-control')).toContain('immutable');
    });
  }

  it('answers 410 for an instant whose version was pruned', async () => {
    await sql`UPDATE versions SET state = 'pruned' WHERE model = 'h' AND number = 1`.execute(setup.db());
    await open.catalog.reload('h');
    const res = await open.json(
      `/v1/models/h/estimates/A?at=${encodeURIComponent(intervals.at(-1)?.validFrom ?? '')}`,
    );
    expect(res.status).toBe(410);
    await sql`UPDATE versions SET state = 'superseded' WHERE model = 'h' AND number = 1`.execute(setup.db());
    await open.catalog.reload('h');
  });

  it('prints the history and a lookup at an instant from the CLI', async () => {
    const history = await runCli('history', 'h');
    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+FROM\s+TO\s+BY\s+REASON$/);
    expect(lines[1]).toMatch(
      new RegExp(`^v2\\s+${intervals[0]?.validFrom}\\s+now\\s+cli:ops\\s+v3 was wrong$`),
    );
    expect(lines).toHaveLength(5);
    const at = shift(intervals[1]?.validTo ?? '', -1);
    const lookup = await runCli('lookup', 'h', 'C', '--at', at);
    expect(lookup.code).toBe(0);
    expect(JSON.parse(lookup.stdout)).toMatchObject({ model: 'h', version: 3, key: 'C', value: 9 });
    expect(JSON.parse((await runCli('lookup', 'h', 'C', '--version', '1')).stdout).value).toBe(3);
    expect(JSON.parse((await runCli('lookup', 'h', 'C')).stdout).version).toBe(2);
    const both = await runCli('lookup', 'h', 'C', '--version', '1', '--at', at);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --version or --at, not both');
    const missing = await runCli('lookup', 'h', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('version 2 of "h" has no estimate for key "nope"');
  });
});
