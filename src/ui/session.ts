import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { z } from 'zod';
import type { Caller } from '../api/auth.ts';
import type { Db } from '../db/database.ts';
import { endSession, findLiveSessionKey, insertSession } from '../db/sessions.ts';
import type { Scope } from '../db/types.ts';

/**
 * The dashboard's sessions. Signing in with an API key stores a session row (its id, the key's
 * SHA-256, an expiry) and sets a cookie naming it: the id and expiry, signed with HMAC-SHA256
 * under ALMANAC_SESSION_SECRET (or a secret of this process). The cookie is HttpOnly and
 * SameSite=Strict and never holds the key. Every request checks the row (logging out ends it for
 * every copy of the cookie) and the key (revoking it ends its sessions). Forms that change state
 * carry a CSRF token derived from the session's id; the login form carries one derived from a
 * short-lived cookie of its own, so that another site cannot sign a browser in under its key.
 */

/** Who is looking at a page. With auth off, everyone is an anonymous admin. */
export type Viewer = {
  /** the key's name, or "anonymous" */
  name: string;
  scopes: readonly Scope[];
  /** recorded as who approved, rejected or rolled back */
  actor: string;
  /** the token each state-changing form sends back */
  csrf: string;
  anonymous: boolean;
  /** the session's id (none with auth off) */
  session: string | undefined;
};

export const SESSION_COOKIE = 'almanac_session';
export const LOGIN_COOKIE = 'almanac_login';
export const SESSION_HOURS = 12;
const LOGIN_FORM_MINUTES = 30;

const payloadSchema = z.object({
  /** the session's id: its row, and the seed of its CSRF token */
  id: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  /** expiry, seconds since the epoch */
  exp: z.number().int(),
});

export type Sessions = {
  /** stores a session for a verified key; answers its Set-Cookie value */
  start: (keyHash: string, secure: boolean) => Promise<string>;
  /** ends the viewer's session; answers the Set-Cookie value that drops the cookie */
  end: (viewer: Viewer, secure: boolean) => Promise<string>;
  /** the live session a Cookie header names, with its key's hash */
  read: (cookieHeader: string | undefined) => Promise<{ id: string; keyHash: string } | undefined>;
  viewerOf: (sessionId: string, caller: Caller) => Viewer;
  /** the viewer when auth is off */
  anonymous: () => Viewer;
  csrfMatches: (viewer: Viewer, token: unknown) => boolean;
  /** a login form's token and the Set-Cookie value that goes with it */
  loginChallenge: (secure: boolean) => { token: string; cookie: string };
  loginChallengeMatches: (cookieHeader: string | undefined, token: unknown) => boolean;
};

export function createSessions(db: Db, secret: string | undefined, now: () => number = Date.now): Sessions {
  const key = secret ?? randomBytes(32).toString('hex');
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const same = (a: string, b: string) => {
    const [x, y] = [Buffer.from(a), Buffer.from(b)];
    return x.length === y.length && timingSafeEqual(x, y);
  };
  const cookie = (name: string, value: string, maxAgeSeconds: number, secure: boolean) =>
    serializeCookie(name, value, {
      httpOnly: true,
      sameSite: 'strict',
      secure,
      path: '/',
      maxAge: maxAgeSeconds,
    });
  const cookieOf = (header: string | undefined, name: string) =>
    header === undefined ? undefined : parseCookies(header)[name];
  /** The payload of a signed cookie value, if its signature holds. */
  const verified = (value: string | undefined): unknown => {
    const [body, signature, extra] = (value ?? '').split('.');
    if (body === undefined || body === '' || signature === undefined || extra !== undefined) return undefined;
    if (!same(signature, mac(body))) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  };
  const signed = (payload: unknown) => {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${mac(body)}`;
  };
  const csrfOf = (id: string) => mac(`csrf:${id}`);
  const anonymousCsrf = csrfOf('anonymous');
  return {
    start: async (keyHash, secure) => {
      const id = randomBytes(24).toString('base64url');
      const expiresAt = new Date(now() + SESSION_HOURS * 3600_000);
      await insertSession(db, { id, keyHash, expiresAt });
      return cookie(
        SESSION_COOKIE,
        signed({ id, exp: Math.floor(expiresAt.getTime() / 1000) }),
        SESSION_HOURS * 3600,
        secure,
      );
    },
    end: async (viewer, secure) => {
      if (viewer.session !== undefined) await endSession(db, viewer.session);
      return cookie(SESSION_COOKIE, '', 0, secure);
    },
    read: async (header) => {
      const parsed = payloadSchema.safeParse(verified(cookieOf(header, SESSION_COOKIE)));
      if (!parsed.success || parsed.data.exp * 1000 <= now()) return undefined;
      const keyHash = await findLiveSessionKey(db, parsed.data.id);
      return keyHash === undefined ? undefined : { id: parsed.data.id, keyHash };
    },
    viewerOf: (sessionId, caller) => ({
      name: caller.actor.replace(/^api:/, ''),
      scopes: caller.scopes,
      actor: caller.actor,
      csrf: csrfOf(sessionId),
      anonymous: false,
      session: sessionId,
    }),
    anonymous: () => ({
      name: 'anonymous',
      scopes: ['read', 'admin'],
      actor: 'anonymous',
      csrf: anonymousCsrf,
      anonymous: true,
      session: undefined,
    }),
    csrfMatches: (viewer, token) => typeof token === 'string' && same(token, viewer.csrf),
    loginChallenge: (secure) => {
      const nonce = randomBytes(18).toString('base64url');
      return {
        token: mac(`login:${nonce}`),
        cookie: cookie(LOGIN_COOKIE, nonce, LOGIN_FORM_MINUTES * 60, secure),
      };
    },
    loginChallengeMatches: (header, token) => {
      const nonce = cookieOf(header, LOGIN_COOKIE);
      return (
        nonce !== undefined && nonce !== '' && typeof token === 'string' && same(token, mac(`login:${nonce}`))
      );
    },
  };
}
