import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../src/db/api-keys.ts';
import { insertRun } from '../src/db/runs.ts';
import { findVersion } from '../src/db/versions.ts';
import { importCsv, readableOf } from '../src/imports/import-csv.ts';
import { createApiKey, hashApiKey } from '../src/keys/api-keys.ts';
import { createSessions, SESSION_COOKIE } from '../src/ui/session.ts';
import { signIn, startTestApi, type TestApi } from './helpers/api.ts';
import { useTestSetup } from './helpers/hooks.ts';
import { applySpec } from './helpers/pipeline.ts';

/**
 * The dashboard's sessions and forms over plain HTTP: what the cookie holds and how it is set,
 * what ends a session, CSRF and Origin checks on every form, where a login may send the browser,
 * and that `/data` takes a session while `/v1` stays Bearer-only. With auth off, no login at all.
 */

const setup = useTestSetup('dashboard_session');
let api: TestApi;
let open: TestApi;
const keys = { admin: '', read: '', doomed: '' };

const csv = (scale: number) =>
  `key,value\n${Array.from({ length: 200 }, (_, i) => `K${i},${(i + 1) * scale}`).join('\n')}\n`;

beforeAll(async () => {
  const db = setup.db();
  await applySpec(db, { name: 'ext', estimator: 'external' });
  // v1 published; v2 and v3, ten times larger, held by the drift gate
  for (const scale of [1, 10, 10]) await importCsv(setup.runtime(), 'ext', readableOf(csv(scale)), 'test');
  keys.admin = await createApiKey(db, 'admin', 'admin');
  keys.read = await createApiKey(db, 'reader', 'read');
  keys.doomed = await createApiKey(db, 'doomed', 'read');
  api = await startTestApi(setup.database.url, setup.prefix.current, { auth: true });
  open = await startTestApi(setup.database.url, setup.prefix.current, { auth: false });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await open?.close();
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields);

async function login(
  key: string,
  next?: string,
): Promise<{ status: number; location: string; cookie: string }> {
  const signed = await signIn(api, key, next);
  return { status: signed.status, location: signed.location, cookie: signed.setCookie };
}
const session = (setCookie: string) => setCookie.split(';')[0] ?? '';
const get = (server: TestApi, path: string, cookie?: string) =>
  server.request(path, { headers: cookie === undefined ? {} : { cookie }, redirect: 'manual' });
const csrfOf = async (server: TestApi, path: string, cookie?: string) =>
  /name="_csrf" value="([^"]+)"/.exec(await (await get(server, path, cookie)).text())?.[1] ?? '';

describe('dashboard sessions', () => {
  it('signs in with a key: a signed, HttpOnly, SameSite=Strict cookie that holds no key', async () => {
    const anonymous = await get(api, '/models/ext?x=1');
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/login?next=%2Fmodels%2Fext%3Fx%3D1');

    const wrong = await login('alm_not-a-key');
    expect(wrong.status).toBe(401);
    expect(wrong.cookie).not.toContain(SESSION_COOKIE);
    // the login form's token and its cookie go together: without them, another site's form
    const bare = await api.request('/login', {
      method: 'POST',
      body: form({ key: keys.admin }),
      redirect: 'manual',
    });
    expect(bare.status).toBe(403);
    expect(bare.headers.get('set-cookie') ?? '').not.toContain(SESSION_COOKIE);

    const signed = await login(keys.admin, '/models/ext');
    expect(signed.status).toBe(303);
    expect(signed.location).toBe('/models/ext');
    expect(signed.cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[\\w-]+\\.[\\w-]+;`));
    expect(signed.cookie).toMatch(/; HttpOnly/);
    expect(signed.cookie).toMatch(/; SameSite=Strict/);
    expect(signed.cookie).toMatch(/; Max-Age=43200/);
    expect(signed.cookie).not.toContain(keys.admin);
    expect(
      Buffer.from(session(signed.cookie).split('=')[1]?.split('.')[0] ?? '', 'base64url').toString(),
    ).not.toContain(keys.admin);

    const page = await get(api, '/models/ext', session(signed.cookie));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('signed in as <strong>admin</strong> (admin)');
    expect(html).toContain('Approve v3');
    // pages run no script and are not cached
    expect(html).not.toContain('<script');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('sends a login only to a path of this site', async () => {
    for (const next of [
      '//evil.example/x',
      'https://evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
    ]) {
      expect((await login(keys.read, next)).location, next).toBe('/');
    }
    const shown = await (await get(api, '/login?next=//evil.example')).text();
    expect(shown).toContain('name="next" value="/"');
  });

  it('ends a session that was tampered with, has expired, or whose key was revoked', async () => {
    const good = session((await login(keys.doomed)).cookie);
    expect((await get(api, '/', good)).status).toBe(200);
    const [name, value] = good.split('=') as [string, string];
    const [body, signature] = value.split('.') as [string, string];
    const forged = JSON.parse(Buffer.from(body, 'base64url').toString());
    forged.exp += 3600;
    const tampered = `${name}=${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
    expect((await get(api, '/', tampered)).status).toBe(303);
    expect((await get(api, '/', `${name}=${body}.${signature.slice(0, -2)}xx`)).status).toBe(303);

    // a session is checked against its key on every request: revoking the key ends it
    expect(await revokeApiKey(setup.db(), 'doomed')).toBe(true);
    await expect.poll(async () => (await get(api, '/', good)).status, { timeout: 5_000 }).toBe(303);

    // and a session lasts 12 hours
    let now = Date.now();
    const sessions = createSessions(setup.db(), 's'.repeat(32), () => now);
    const cookie = (await sessions.start(hashApiKey(keys.admin), false)).split(';')[0] ?? '';
    expect((await sessions.read(cookie))?.keyHash).toBe(hashApiKey(keys.admin));
    now += 12 * 3600 * 1000 - 1000;
    expect(await sessions.read(cookie)).toBeDefined();
    now += 2000;
    expect(await sessions.read(cookie)).toBeUndefined();
    // another secret (another replica without ALMANAC_SESSION_SECRET) does not know it
    expect(await createSessions(setup.db(), 't'.repeat(32)).read(cookie)).toBeUndefined();
  });

  it("refuses a form without the session's CSRF token or from another site, and changes nothing", async () => {
    const cookie = session((await login(keys.admin)).cookie);
    const token = await csrfOf(api, '/models/ext', cookie);
    expect(token).not.toBe('');
    const reject = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      api.request('/models/ext/versions/3/reject', {
        method: 'POST',
        headers: { cookie, ...headers },
        body: form(fields),
        redirect: 'manual',
      });
    expect((await reject({ reason: 'no token' })).status).toBe(403);
    expect((await reject({ _csrf: `${token}x` })).status).toBe(403);
    expect((await reject({ _csrf: token }, { origin: 'http://evil.example' })).status).toBe(403);
    // another session's token is not this one's
    const other = session((await login(keys.admin)).cookie);
    expect((await reject({ _csrf: await csrfOf(api, '/models/ext', other) })).status).toBe(403);
    expect((await findVersion(setup.db(), 'ext', 3))?.state).toBe('held');

    const done = await reject({ _csrf: token, reason: 'ten times too large' }, { origin: api.url });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/models/ext?done=reject&version=3');
    const rejected = await findVersion(setup.db(), 'ext', 3);
    expect(rejected?.state).toBe('rejected');
    expect(rejected?.lineage.rejected).toMatchObject({ actor: 'api:admin', reason: 'ten times too large' });
    // a decision that no longer applies is a page saying why, with the API's status
    const again = await reject({ _csrf: token });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await again.text()).toContain('only a held version can be rejected');

    // logging out needs the token too
    expect(
      (
        await api.request('/logout', {
          method: 'POST',
          headers: { cookie },
          body: form({}),
          redirect: 'manual',
        })
      ).status,
    ).toBe(403);
    const out = await api.request('/logout', {
      method: 'POST',
      headers: { cookie },
      body: form({ _csrf: token }),
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=; Max-Age=0`));
    // the session ended on the server: a copy of the cookie no longer signs anyone in
    expect((await get(api, '/', cookie)).status).toBe(303);
    expect((await get(api, '/data/v1/models', cookie)).status).toBe(401);
    // and a link that claims a decision that did not happen shows no notice
    const other2 = session((await login(keys.read)).cookie);
    expect(await (await get(api, '/models/ext?done=publish&version=3', other2)).text()).not.toContain(
      'was published',
    );
    expect(await (await get(api, '/models/ext?done=reject&version=3', other2)).text()).toContain(
      'Version 3 was rejected',
    );
  });

  it('answers /data to a session only, read-only, and /v1 to a Bearer key only', async () => {
    const cookie = session((await login(keys.read)).cookie);
    const data = await get(api, '/data/v1/models/ext/versions', cookie);
    expect(data.status).toBe(200);
    expect(((await data.json()) as { items: unknown[] }).items).toHaveLength(3);
    const snapshot = await get(api, '/data/v1/models/ext/versions/1/snapshot?format=csv', cookie);
    expect((await snapshot.text()).split('\n')[0]).toBe('key,value,lower,upper,as_of');

    // a pinned answer is immutable, but an answer to a cookie is no shared cache's to keep
    const pinned = await get(api, '/data/v1/models/ext/estimates/K1?version=1', cookie);
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');

    const none = await get(api, '/data/v1/models');
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // the session is not a key for the API
    expect((await get(api, '/v1/models', cookie)).status).toBe(401);
    // nothing that changes state is there, even for an admin's session
    const admin = session((await login(keys.admin)).cookie);
    const post = await api.request('/data/v1/models/ext/versions/2/publish', {
      method: 'POST',
      headers: { cookie: admin, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(404);
    // the read key's session sees the pages without the buttons
    const page = await (await get(api, '/models/ext', cookie)).text();
    expect(page).toContain('(read)');
    expect(page).not.toContain('Approve v2');
  });

  it("reloads a model's runs while one is active, in a frame that leaves the model page's forms alone", async () => {
    const cookie = session((await login(keys.admin)).cookie);
    const model = await (await get(api, '/models/ext', cookie)).text();
    // (its height is the three imports' runs: a frame cannot size itself without script)
    expect(model).toContain('<iframe class="runs" title="Runs of ext" src="/models/ext/runs" height="171">');
    expect(model).not.toContain('http-equiv="refresh"');
    const frame = async () => (await get(api, '/models/ext/runs', cookie)).text();
    expect(await frame()).not.toContain('http-equiv="refresh"');
    const id = randomUUID();
    await insertRun(setup.db(), { id, model: 'ext', slot: `manual-${id}`, trigger: 'test', jobId: 'j' });
    const watching = await frame();
    expect(watching).toContain('<meta http-equiv="refresh" content="3">');
    expect(watching).toMatch(/<progress max="1" value="0"/);
    // the model page itself never reloads: a reason being typed stays
    expect(await (await get(api, '/models/ext', cookie)).text()).not.toContain('http-equiv="refresh"');
    // a run queued for long waits for a worker that is not there: no reloading forever
    await sql`UPDATE runs SET created_at = now() - interval '1 hour' WHERE id = ${id}`.execute(setup.db());
    expect(await frame()).not.toContain('http-equiv="refresh"');
    await sql`UPDATE runs SET state = 'running', started_at = now() WHERE id = ${id}`.execute(setup.db());
    expect(await frame()).toContain('http-equiv="refresh"');
    await sql`UPDATE runs SET state = 'failed', finished_at = now() WHERE id = ${id}`.execute(setup.db());
    expect(await frame()).not.toContain('http-equiv="refresh"');
  });

  it('limits sign-in attempts per address, and counts pages and /data against the key, with limiting on', async () => {
    const limited = await startTestApi(setup.database.url, setup.prefix.current, {
      auth: true,
      rateLimitPerMinute: 6,
    });
    try {
      const attempts = [];
      for (let i = 0; i < 21; i += 1) attempts.push((await signIn(limited, 'alm_wrong')).status);
      expect(attempts.slice(0, 20)).toEqual(Array(20).fill(401));
      expect(attempts[20]).toBe(429);
    } finally {
      await limited.close();
    }
    const fresh = await startTestApi(setup.database.url, setup.prefix.current, {
      auth: true,
      rateLimitPerMinute: 6,
    });
    try {
      const cookie = (await signIn(fresh, keys.read)).cookie;
      const statuses = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await get(fresh, '/', cookie)).status);
      for (let i = 0; i < 3; i += 1) statuses.push((await get(fresh, '/data/v1/models', cookie)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
      const page = await get(fresh, '/', cookie);
      expect(page.status).toBe(429);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await fresh.close();
    }
  });

  it('answers errors as pages, with the status the API would give', async () => {
    const cookie = session((await login(keys.read)).cookie);
    const missing = await get(api, '/models/nope', cookie);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('model &quot;nope&quot; does not exist');
    const bad = await get(api, '/models/ext/versions/abc', cookie);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('params.version');
    expect((await get(api, '/models/ext/diff?from=1', cookie)).status).toBe(400);
    expect((await get(api, '/models/ext/versions/1', cookie)).status).toBe(200);
  });

  it('needs no login with auth off, and records decisions as anonymous', async () => {
    expect((await get(open, '/login')).headers.get('location')).toBe('/');
    const page = await get(open, '/models/ext');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('auth is off');
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    // the form says what the page showed: v2 held
    expect(html).toContain('<input type="hidden" name="from" value="held">');
    const approved = await open.request('/models/ext/versions/2/publish', {
      method: 'POST',
      body: form({ _csrf: token, from: 'held' }),
      redirect: 'manual',
    });
    expect(approved.status).toBe(303);
    // the same click again, from the page as it was: v2 is no longer held, nothing changes
    const stale = await open.request('/models/ext/versions/2/publish', {
      method: 'POST',
      body: form({ _csrf: token, from: 'held' }),
      redirect: 'manual',
    });
    expect(stale.status).toBe(409);
    const published = await findVersion(setup.db(), 'ext', 2);
    expect(published?.state).toBe('published');
    expect(published?.lineage.published).toMatchObject({ actor: 'anonymous', reason: null });
    // still a token: a page of another site cannot post the form
    const forged = await open.request('/models/ext/versions/1/publish', {
      method: 'POST',
      body: form({}),
      redirect: 'manual',
    });
    expect(forged.status).toBe(403);
  });
});
