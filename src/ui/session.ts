import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { z } from 'zod';
import type { Caller } from '../api/auth.ts';
import type { Scope } from '../db/types.ts';

/**
 * The dashboard's sessions. Logging in with an API key sets a cookie that holds the key's SHA-256
 * (never the key), an expiry and an id, signed with HMAC-SHA256 under ALMANAC_SESSION_SECRET (or a
 * secret of this process). The cookie is HttpOnly and SameSite=Strict; every request checks the
 * key is still live, so revoking it ends its sessions. Forms that change state carry a CSRF token
 * derived from the session's id, which a page of another site cannot read.
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
};

export const SESSION_COOKIE = 'almanac_session';
export const SESSION_HOURS = 12;

const payloadSchema = z.object({
  /** the API key's SHA-256, hex */
  k: z.string().regex(/^[0-9a-f]{64}$/),
  /** expiry, seconds since the epoch */
  exp: z.number().int(),
  /** the session's id: its CSRF token is derived from it */
  id: z.string().min(16),
});
type Payload = z.infer<typeof payloadSchema>;

export type Sessions = {
  /** the Set-Cookie value of a new session for a verified key */
  start: (keyHash: string, secure: boolean) => string;
  /** the Set-Cookie value that ends a session */
  end: (secure: boolean) => string;
  /** the session a Cookie header carries, if its signature holds and it has not expired */
  read: (cookieHeader: string | undefined) => Payload | undefined;
  viewerOf: (session: Payload, caller: Caller) => Viewer;
  /** the viewer when auth is off */
  anonymous: () => Viewer;
  csrfMatches: (viewer: Viewer, token: unknown) => boolean;
};

export function createSessions(secret: string | undefined, now: () => number = Date.now): Sessions {
  const key = secret ?? randomBytes(32).toString('hex');
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const same = (a: string, b: string) => {
    const [x, y] = [Buffer.from(a), Buffer.from(b)];
    return x.length === y.length && timingSafeEqual(x, y);
  };
  const cookie = (value: string, maxAgeSeconds: number, secure: boolean) =>
    serializeCookie(SESSION_COOKIE, value, {
      httpOnly: true,
      sameSite: 'strict',
      secure,
      path: '/',
      maxAge: maxAgeSeconds,
    });
  const csrfOf = (id: string) => mac(`csrf:${id}`);
  const anonymousCsrf = csrfOf('anonymous');
  return {
    start: (keyHash, secure) => {
      const payload: Payload = {
        k: keyHash,
        exp: Math.floor(now() / 1000) + SESSION_HOURS * 3600,
        id: randomBytes(16).toString('base64url'),
      };
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      return cookie(`${body}.${mac(body)}`, SESSION_HOURS * 3600, secure);
    },
    end: (secure) => cookie('', 0, secure),
    read: (header) => {
      const value = header === undefined ? undefined : parseCookies(header)[SESSION_COOKIE];
      const [body, signature, extra] = (value ?? '').split('.');
      if (body === undefined || signature === undefined || extra !== undefined || body === '')
        return undefined;
      if (!same(signature, mac(body))) return undefined;
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return undefined;
      }
      const parsed = payloadSchema.safeParse(decoded);
      if (!parsed.success || parsed.data.exp * 1000 <= now()) return undefined;
      return parsed.data;
    },
    viewerOf: (session, caller) => ({
      name: caller.actor.replace(/^api:/, ''),
      scopes: caller.scopes,
      actor: caller.actor,
      csrf: csrfOf(session.id),
      anonymous: false,
    }),
    anonymous: () => ({
      name: 'anonymous',
      scopes: ['read', 'admin'],
      actor: 'anonymous',
      csrf: anonymousCsrf,
      anonymous: true,
    }),
    csrfMatches: (viewer, token) => typeof token === 'string' && same(token, viewer.csrf),
  };
}
