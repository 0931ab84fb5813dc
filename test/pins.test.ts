import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { retainAfterPublish } from '../src/versions/retention.ts';
import { startTestApi, type TestApi } from './helpers/api.ts';
import { runCli } from './helpers/cli.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec, lenientDrift } from './helpers/pipeline.ts';

/**
 * Pins: a consumer that depends on a version keeps it from retention until its pin expires or is
 * removed; pinning refuses versions that are unknown (404) or gone (410); the API, the CLI and a
 * version's detail agree on who pins what.
 */

const setup = useTestSetup('pins');
let api: TestApi;
let admin = '';
let reader = '';

const csv = (scale: number) =>
  `key,value\n${['A', 'B', 'C'].map((k, i) => `${k},${(i + 1) * scale}`).join('\n')}\n`;
const importOne = async (scale: number) => importCsv(setup.runtime(), 'p', readableOf(csv(scale)), 'test');
const states = async () =>
  (
    await sql<{ s: string }>`SELECT string_agg('v' || number || ':' || state, ' ' ORDER BY number) AS s
      FROM versions WHERE model = 'p'`.execute(setup.db())
  ).rows[0]?.s;
const put = (consumer: string, body: unknown, key = admin) =>
  api.json(`/v1/models/p/pins/${consumer}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
const get = (path: string) => api.json(path, { headers: { authorization: `Bearer ${reader}` } });

/** A retention pass as the next publish runs it, with the lines it logs. */
async function retentionPass(): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  await retainAfterPublish({ db: setup.db(), pool: setup.pool(), logger }, 'p', 1);
  return lines;
}

beforeAll(async () => {
  await applySpec(setup.db(), {
    name: 'p',
    estimator: 'external',
    drift: lenientDrift,
    retention: { keepVersions: 1 },
  });
  admin = await createApiKey(setup.db(), 'ops', 'admin');
  reader = await createApiKey(setup.db(), 'dash', 'read');
  api = await startTestApi(setup.database.url, setup.prefix.current, { auth: true });
  await importOne(1);
}, 60_000);
afterAll(async () => {
  await api?.close();
});

describe('pins', () => {
  it('pins a version over the API, and moving a pin answers 200 where placing it answered 201', async () => {
    const placed = await put('billing', { version: 1, note: 'quarter close' });
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({
      consumer: 'billing',
      version: 1,
      expiresAt: null,
      note: 'quarter close',
      expired: false,
    });
    expect((await put('billing', { version: 1, note: 'quarter close' })).status).toBe(200);
    const listed = await get('/v1/models/p/pins');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ consumer: 'billing', version: 1 })]);
  });

  it('keeps a pinned version through retention and logs which pin kept it', async () => {
    await importOne(2); // v2 published; v1 superseded, past keepVersions 1, pinned by billing
    const lines = await retentionPass();
    expect(await states()).toBe('v1:superseded v2:published');
    expect(lines.map((line) => line.msg)).toContain('retention kept version 1: pinned by billing');
    const detail = await get('/v1/models/p/versions/1');
    expect(detail.body.pinnedBy).toEqual([
      expect.objectContaining({ consumer: 'billing', expiresAt: null, note: 'quarter close' }),
    ]);
    expect((await get('/v1/models/p/versions/2')).body.pinnedBy).toEqual([]);
    // the pinned version is still served
    expect((await get('/v1/models/p/estimates/A?version=1')).body.value).toBe(1);
  });

  it('stops protecting a version at the first retention pass after its pin expires', async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    expect((await put('weekly-report', { version: 2, expiresAt })).status).toBe(201);
    await importOne(3); // v2 superseded, kept by weekly-report until it expires
    await retentionPass();
    expect(await states()).toBe('v1:superseded v2:superseded v3:published');
    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 50));
    const lines = await retentionPass();
    expect(await states()).toBe('v1:superseded v2:pruned v3:published');
    expect(lines.map((line) => line.msg)).toContain('retention kept version 1: pinned by billing');
    const listed = await get('/v1/models/p/pins');
    expect(listed.body.items).toEqual([
      expect.objectContaining({ consumer: 'billing', expired: false }),
      expect.objectContaining({ consumer: 'weekly-report', version: 2, expiresAt, expired: true }),
    ]);
  });

  it('refuses unknown versions (404), pruned ones (410), bad fields (400) and read keys (403)', async () => {
    const pruned = await put('late', { version: 2 });
    expect(pruned.status).toBe(410);
    expect(pruned.body.detail).toContain('version 2 of "p" was pruned');
    const unknown = await put('late', { version: 99 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toBe('model "p" has no version 99');
    expect(
      (await api.json('/v1/models/nope/pins', { headers: { authorization: `Bearer ${reader}` } })).status,
    ).toBe(404);
    const past = await put('late', { version: 3, expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.errors).toEqual([{ path: 'body.expiresAt', message: 'must be in the future' }]);
    const badConsumer = await put('-bad', { version: 3 });
    expect(badConsumer.status).toBe(400);
    expect(badConsumer.body.errors.map((e: { path: string }) => e.path)).toEqual(['params.consumer']);
    const badBody = await put('late', { version: 'three', extra: 1 });
    expect(badBody.status).toBe(400);
    expect(badBody.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'body.extra',
      'body.version',
    ]);
    expect((await put('late', { version: 3 }, reader)).status).toBe(403);
    expect((await get('/v1/models/p/pins')).body.items.map((p: { consumer: string }) => p.consumer)).toEqual([
      'billing',
      'weekly-report',
    ]);
  });

  it('unpins (204, then 404), after which retention prunes the version', async () => {
    const del = (consumer: string) =>
      api.request(`/v1/models/p/pins/${consumer}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${admin}` },
      });
    expect((await del('billing')).status).toBe(204);
    expect((await del('billing')).status).toBe(404);
    await retentionPass();
    expect(await states()).toBe('v1:pruned v2:pruned v3:published');
  });

  it('pins, lists and unpins from the CLI', async () => {
    const pinned = await runCli('pin', 'p', 'nightly-export', '3', '--expires', '2099-01-01T00:00:00Z');
    expect(pinned).toMatchObject({ code: 0, stderr: '' });
    expect(pinned.stdout).toBe('pinned nightly-export to version 3 of p until 2099-01-01T00:00:00.000Z\n');
    const listed = await runCli('pins', 'p');
    expect(listed.stdout).toMatch(/nightly-export\s+v3\s+2099-01-01/);
    expect(listed.stdout).toContain('weekly-report');
    expect(listed.stdout).toContain('(expired)');
    // a note stored before free text refused control characters is shown, never obeyed
    await sql`UPDATE pins SET note = ${'red\u001b[31m\r\nforged  v1'} WHERE consumer = 'nightly-export'`.execute(
      setup.db(),
    );
    const escaped = (await runCli('pins', 'p')).stdout;
    expect(escaped).toContain('red\\u001b[31m\\u000d\\u000aforged  v1');
    expect(escaped).not.toContain('\u001b');
    const gone = await runCli('pin', 'p', 'late', '1');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('was pruned by retention');
    const past = await runCli('pin', 'p', 'late', '3', '--expires', 'yesterday');
    expect(past.code).not.toBe(0);
    expect(past.stderr).toContain('--expires');
    // show prints the API's own body, pins included
    const shown = JSON.parse((await runCli('show', 'p', '3')).stdout) as unknown;
    expect(shown).toEqual((await get('/v1/models/p/versions/3')).body);
    expect(JSON.stringify(shown)).toContain('"consumer":"nightly-export"');
    const versions = JSON.parse((await runCli('versions', 'p', '--json')).stdout) as unknown;
    expect(versions).toEqual((await get('/v1/models/p/versions')).body.items);
    expect((await runCli('unpin', 'p', 'nightly-export')).stdout).toBe(
      'removed the pin of nightly-export on p\n',
    );
    expect((await runCli('unpin', 'p', 'nightly-export')).code).not.toBe(0);
  });
});
