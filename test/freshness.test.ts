import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, lenientDrift } from './helpers/pipeline.ts';

/**
 * Freshness on a controlled clock: a `latest` answer turns stale the millisecond its version's
 * data is older than `maxAgeHours`, on both serving paths (the Express route with auth off, the
 * fast path in front of it with a verified key), with its header and a new ETag; pinned and
 * closed-interval answers never do; /metrics and /readyz say which models are stale.
 */

const setup = useTestSetup('freshness');
let open: TestApi;
let guarded: TestApi;
let key = '';
let createdMs = 0;
const HOUR = 3_600_000;

const csv = (scale: number) => `key,value\nA,${scale}\nB,${2 * scale}\n`;
const at = (ms: number) => vi.setSystemTime(new Date(ms));

beforeAll(async () => {
  await applySpec(setup.db(), { name: 'f', estimator: 'external', drift: lenientDrift, maxAgeHours: 1 });
  await applySpec(setup.db(), { name: 'g', estimator: 'external', drift: lenientDrift });
  await importCsv(setup.runtime(), 'f', readableOf(csv(1)), 'test');
  await importCsv(setup.runtime(), 'g', readableOf(csv(1)), 'test');
  key = await createApiKey(setup.db(), 'reader', 'read');
  open = await startTestApi(setup.database.url, setup.prefix.current);
  guarded = await startTestApi(setup.database.url, setup.prefix.current, { auth: true });
  createdMs = Date.parse((await open.json('/v1/models/f/versions/1')).body.createdAt);
  // warm the fast path's key verifier before the clock is frozen
  await guarded.json('/v1/models/f/estimates/A', { headers: { authorization: `Bearer ${key}` } });
}, 60_000);
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

/** Each serving path: the API to ask, and the headers that send a request down it. */
const path = (name: 'Express route' | 'fast path') =>
  name === 'Express route'
    ? { api: open, auth: {} }
    : { api: guarded, auth: { authorization: `Bearer ${key}` } };

describe('freshness', () => {
  it.each(['Express route', 'fast path'] as const)(
    'turns a latest answer stale just past maxAgeHours (%s)',
    async (name) => {
      const { api, auth } = path(name);
      vi.useFakeTimers({ toFake: ['Date'] });
      at(createdMs + HOUR);
      const fresh = await api.json('/v1/models/f/estimates/A', { headers: auth });
      expect(fresh.status).toBe(200);
      expect(fresh.body).toMatchObject({ version: 1, value: 1, stale: false });
      expect(fresh.headers.get('estimate-stale')).toBeNull();
      expect(fresh.headers.get('cache-control')).toBe('no-cache');
      const freshTag = fresh.headers.get('etag') ?? '';

      at(createdMs + HOUR + 1);
      const stale = await api.json('/v1/models/f/estimates/A', { headers: auth });
      expect(stale.body).toMatchObject({ version: 1, value: 1, stale: true });
      expect(stale.headers.get('estimate-stale')).toBe('true');
      expect(stale.headers.get('cache-control')).toBe('no-cache');
      const staleTag = stale.headers.get('etag') ?? '';
      expect(staleTag).not.toBe(freshTag);
      // a client holding the fresh answer's ETag gets the stale answer, not a 304
      const revalidated = await api.request('/v1/models/f/estimates/A', {
        headers: { ...auth, 'if-none-match': freshTag },
      });
      expect(revalidated.status).toBe(200);
      expect(
        (await api.request('/v1/models/f/estimates/A', { headers: { ...auth, 'if-none-match': staleTag } }))
          .status,
      ).toBe(304);

      // a pinned answer is what it was: immutable, never stale
      const pinned = await api.json('/v1/models/f/estimates/A?version=1', { headers: auth });
      expect(pinned.body.stale).toBe(false);
      expect(pinned.headers.get('estimate-stale')).toBeNull();
      expect(pinned.headers.get('cache-control')).toContain('immutable');
      // a model without maxAgeHours never is
      expect((await api.json('/v1/models/g/estimates/A', { headers: auth })).body.stale).toBe(false);
    },
  );

  it('gives a batch one top-level stale', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(createdMs + 2 * HOUR);
    const batch = await open.post('/v1/models/f/estimates/batch', { keys: ['A', 'B', 'Z'] });
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ version: 1, stale: true, missing: ['Z'] });
    expect(batch.body.estimates.map((e: { stale: boolean }) => e.stale)).toEqual([true, true]);
    expect(batch.headers.get('estimate-stale')).toBe('true');
    at(createdMs + HOUR / 2);
    const fresh = await open.post('/v1/models/f/estimates/batch', { keys: ['A'] });
    expect(fresh.body.stale).toBe(false);
    expect(fresh.headers.get('estimate-stale')).toBeNull();
  });

  it('exports the age and staleness to /metrics and lists stale models in /readyz without failing it', async () => {
    const gauges = async () => {
      const text = await (await open.request('/metrics')).text();
      const value = (name: string, model: string) =>
        Number(new RegExp(`^${name}\\{model="${model}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
      return {
        ageF: value('almanac_published_age_seconds', 'f'),
        staleF: value('almanac_model_stale', 'f'),
        staleG: value('almanac_model_stale', 'g'),
      };
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    at(createdMs + HOUR / 2);
    expect(await gauges()).toEqual({ ageF: 1800, staleF: 0, staleG: 0 });
    expect((await open.json('/readyz')).body).toMatchObject({ status: 'ready', stale: [] });
    at(createdMs + 3 * HOUR);
    expect(await gauges()).toEqual({ ageF: 3 * 3600, staleF: 1, staleG: 0 });
    const ready = await open.json('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', stale: ['f'] });
    // the dashboard marks it in red, on the models page and its own
    const models = await (await open.request('/')).text();
    expect(models.match(/class="badge stale"/g)).toHaveLength(1);
    expect(models).toContain('data 3 h old, over maxAgeHours 1');
    expect(await (await open.request('/models/f')).text()).toContain('class="badge stale"');
    expect(await (await open.request('/models/g')).text()).not.toContain('class="badge stale"');
  });

  it('never marks a closed interval stale, and a new version is fresh again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(createdMs + 5 * HOUR);
    vi.useRealTimers();
    await importCsv(setup.runtime(), 'f', readableOf(csv(2)), 'test');
    await open.catalog.reload('f');
    await guarded.catalog.reload('f');
    const history = (await open.json('/v1/models/f/history')).body.items;
    const v1From = history[1].validFrom as string;
    vi.useFakeTimers({ toFake: ['Date'] });
    at(Date.parse(history[0].validFrom) + 5 * HOUR);
    const closed = await open.json(`/v1/models/f/estimates/A?at=${v1From}`);
    expect(closed.body).toMatchObject({ version: 1, stale: false });
    expect(closed.headers.get('cache-control')).toContain('immutable');
    // the open interval answers as latest does: stale once the published data is too old
    const openInterval = await open.json(`/v1/models/f/estimates/A?at=${history[0].validFrom}`);
    expect(openInterval.body).toMatchObject({ version: 2, stale: true });
    vi.useRealTimers();
    const latest = await open.json('/v1/models/f/estimates/A');
    expect(latest.body).toMatchObject({ version: 2, value: 2, stale: false });
    const lookup = await runCli('lookup', 'f', 'A');
    expect(JSON.parse(lookup.stdout)).toMatchObject({ version: 2, stale: false });
  });
});
