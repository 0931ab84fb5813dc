import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import rateLimit, { ipKeyGenerator, type Store } from 'express-rate-limit';
import onHeaders from 'on-headers';
import { z } from 'zod';
import type { KeyVerifier } from '../api/auth.ts';
import { bearerOf } from '../api/auth.ts';
import { limitedBodyParser } from '../api/body-limit.ts';
import { modelParam, versionNumberParams, versionNumberText, versionParams } from '../api/params.ts';
import { sendProblem } from '../api/problem.ts';
import type { ApiDeps, Route } from '../api/route.ts';
import { mountRoutes } from '../api/route.ts';
import { decideVersion } from '../api/routes/versions.ts';
import { parseRequest } from '../api/validate.ts';
import { HttpError } from '../errors.ts';
import { hashApiKey } from '../keys/api-keys.ts';
import { decisionReason, publishFrom } from '../versions/publish.ts';
import type { PageContext } from './page-context.ts';
import { canAct } from './page-context.ts';
import { diffPage } from './pages/diff.ts';
import { errorPage } from './pages/error.ts';
import { loginPage } from './pages/login.ts';
import { type Done, modelPage } from './pages/model.ts';
import { modelsPage } from './pages/models.ts';
import { runsFrame } from './pages/runs.ts';
import { versionPage } from './pages/version.ts';
import { DATA_PREFIX, pagePath } from './paths.ts';
import type { Sessions, Viewer } from './session.ts';
import { STYLESHEET } from './style.ts';

/**
 * The dashboard on the API's port: server-rendered pages (no script at all), their stylesheet, the
 * login form and sessions, the admin buttons' forms, and `/data`, a read-only copy of the API's GET
 * routes that takes the session cookie (the `/v1` API stays Bearer-only). Pages and `/data` count
 * against the same per-key rate limit as `/v1`.
 */

export type DashboardDeps = ApiDeps & {
  verifier: KeyVerifier;
  auth: boolean;
  sessions: Sessions;
  /** the API's per-key rate limit (keyed by `req.caller`), when limiting is on */
  limit: RequestHandler | undefined;
  /** where sign-in attempts are counted (Redis, shared by replicas); unset: this process's memory */
  loginAttemptStore?: Store;
};

/** Pages run no script and load only this server's stylesheet; charts are inline SVG. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'";

const LOGIN_ATTEMPTS_PER_MINUTE = 20;
const STALE_FORM = 'the form is stale or came from another site: reload the page and try again';
const FORM_LIMIT_BYTES = 16 * 1024;
const forms = limitedBodyParser(
  express.urlencoded({ extended: false, limit: FORM_LIMIT_BYTES, parameterLimit: 20 }),
  'application/x-www-form-urlencoded',
  FORM_LIMIT_BYTES,
  'form',
);

/** Where to go after signing in: a path of this site only (never `//elsewhere`). */
const nextPath = z
  .string()
  .max(2000)
  .regex(/^\/(?![/\\])[^\s]*$/, 'must be a path of this site')
  .catch('/');

const loginForm = z.object({
  key: z.string({ error: 'is required' }).trim().min(1, 'is required').max(512, 'is not an API key'),
  next: nextPath.optional(),
  _csrf: z.string().optional(),
});

const decisionForm = z.object({
  _csrf: z.string().optional(),
  // an empty field is no reason (decisionReason says so)
  reason: decisionReason.optional(),
  from: publishFrom.optional(),
});

const diffQuery = z
  .object({ from: versionNumberText.optional(), to: versionNumberText.optional() })
  .refine((q) => (q.from === undefined) === (q.to === undefined), {
    error: 'give both from and to, or neither',
    path: ['to'],
  });

const doneQuery = z.object({ done: z.enum(['publish', 'reject']), version: versionNumberText });

declare module 'express-serve-static-core' {
  interface Locals {
    viewer?: Viewer;
  }
}

export function mountDashboard(app: Express, deps: DashboardDeps, routes: readonly Route[]): void {
  const { sessions } = deps;
  const limited = deps.limit === undefined ? [] : [deps.limit];

  /** Who is looking: the anonymous admin with auth off, else the live key of a live session. */
  const viewerOf = async (req: Request): Promise<Viewer | undefined> => {
    if (!deps.auth) return sessions.anonymous();
    const session = await sessions.read(req.get('cookie'));
    if (session === undefined) return undefined;
    const caller = await deps.verifier.identifyHash(session.keyHash);
    return caller === undefined ? undefined : sessions.viewerOf(session.id, caller);
  };
  // behind a proxy that TRUST_PROXY trusts, these are what the browser used (X-Forwarded-*)
  const secure = (req: Request) => req.protocol === 'https';
  const asPage = (res: Response, viewer: Viewer | undefined) => {
    res.set({
      'Content-Security-Policy': PAGE_CSP,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'same-origin',
    });
    res.locals.errorPage = (status, detail, issues) => errorPage(status, detail, issues, viewer);
  };
  /**
   * A form from a page of another site is refused, whatever it carries. Pages send their Origin
   * (their Referrer-Policy is same-origin); a browser that hides it ("null") is left to the CSRF
   * token and the SameSite cookie.
   */
  const sameOrigin = (req: Request) => {
    const origin = req.get('origin');
    if (origin === undefined || origin === 'null') return true;
    try {
      return new URL(origin).host === req.host;
    } catch {
      return false;
    }
  };

  /** Finds the viewer (or sends the browser to the login form) and makes its errors pages. */
  const signedIn: RequestHandler = async (req, res, next) => {
    asPage(res, undefined);
    const viewer = await viewerOf(req);
    if (viewer === undefined) {
      // after signing in, a form's page is where to go back to (its POST is not a page)
      const back = req.method === 'GET' ? req.originalUrl : '/';
      res.redirect(303, `/login?next=${encodeURIComponent(back)}`);
      return;
    }
    asPage(res, viewer);
    res.locals.viewer = viewer;
    req.caller = { actor: viewer.actor, scopes: viewer.scopes };
    next();
  };
  const page = (
    render: (ctx: PageContext, req: Request, res: Response) => Promise<string | undefined>,
  ): RequestHandler[] => [
    signedIn,
    ...limited,
    async (req, res) => {
      const viewer = res.locals.viewer as Viewer;
      const markup = await render({ deps, viewer, now: new Date() }, req, res);
      if (markup !== undefined) res.type('html').send(markup);
    },
  ];

  app.get('/assets/dashboard.css', (_req, res) => {
    res.set({ 'Cache-Control': 'public, max-age=300' }).type('text/css').send(STYLESHEET);
  });

  app.get(
    '/',
    page((ctx) => modelsPage(ctx)),
  );
  app.get(
    '/models/:model',
    page(async (ctx, req) => {
      const { model } = parseRequest(modelParam, req.params, 'params');
      const done = doneQuery.safeParse(req.query);
      return modelPage(ctx, model, done.success ? (done.data satisfies Done) : undefined);
    }),
  );
  app.get(
    '/models/:model/runs',
    page(async (ctx, req) => runsFrame(ctx, parseRequest(modelParam, req.params, 'params').model)),
  );
  app.get(
    '/models/:model/versions/:version',
    page(async (ctx, req) => {
      const { model, version } = parseRequest(versionParams, req.params, 'params');
      return versionPage(ctx, model, version);
    }),
  );
  app.get(
    '/models/:model/diff',
    page(async (ctx, req, res) => {
      const { model } = parseRequest(modelParam, req.params, 'params');
      const query = parseRequest(diffQuery, req.query, 'query');
      const pair =
        query.from === undefined || query.to === undefined ? undefined : { from: query.from, to: query.to };
      const answer = await diffPage(ctx, model, pair);
      if (answer.redirect === undefined) return answer.html;
      res.redirect(303, answer.redirect);
      return undefined;
    }),
  );

  for (const action of ['publish', 'reject'] as const) {
    app.post(
      `/models/:model/versions/:version/${action}`,
      forms,
      ...page(async (ctx, req, res) => {
        const { model, version } = parseRequest(versionNumberParams, req.params, 'params');
        if (!canAct(ctx.viewer)) throw new HttpError(403, 'this needs an API key with the "admin" scope');
        const form = parseRequest(decisionForm, req.body ?? {}, 'body');
        if (!sameOrigin(req) || !sessions.csrfMatches(ctx.viewer, form._csrf))
          throw new HttpError(403, STALE_FORM);
        await decideVersion(deps, action, model, version, {
          actor: ctx.viewer.actor,
          reason: form.reason,
          from: form.from,
        });
        res.redirect(303, `${pagePath.model(model)}?done=${action}&version=${version}`);
        return undefined;
      }),
    );
  }

  /** The login form, with a fresh token bound to a cookie of its own (another site has neither). */
  const sendLogin = (
    req: Request,
    res: Response,
    options: { next: string; error?: string; status?: number },
  ) => {
    const challenge = sessions.loginChallenge(secure(req));
    res.append('Set-Cookie', challenge.cookie);
    res
      .status(options.status ?? 200)
      .type('html')
      .send(loginPage({ ...options, token: challenge.token }));
  };
  app.get('/login', (req, res) => {
    asPage(res, undefined);
    const next = nextPath.parse(req.query.next ?? '/');
    if (!deps.auth) res.redirect(303, next);
    else sendLogin(req, res, { next });
  });
  app.post(
    '/login',
    ...(deps.limit === undefined
      ? []
      : [
          rateLimit({
            windowMs: 60_000,
            limit: LOGIN_ATTEMPTS_PER_MINUTE,
            ...(deps.loginAttemptStore === undefined
              ? {}
              : { store: deps.loginAttemptStore, passOnStoreError: true }),
            standardHeaders: 'draft-8',
            legacyHeaders: false,
            keyGenerator: (req) => ipKeyGenerator(req.ip ?? ''),
            handler: (req, res) => {
              asPage(res, undefined);
              res.set('Retry-After', '60');
              sendLogin(req, res, {
                next: '/',
                status: 429,
                error: 'Too many attempts: wait a minute and try again.',
              });
            },
          }),
        ]),
    forms,
    async (req, res) => {
      asPage(res, undefined);
      if (!deps.auth) {
        res.redirect(303, '/');
        return;
      }
      const form = loginForm.safeParse(req.body ?? {});
      const next = form.success ? (form.data.next ?? '/') : '/';
      if (!sameOrigin(req) || !sessions.loginChallengeMatches(req.get('cookie'), req.body?._csrf)) {
        sendLogin(req, res, {
          next,
          status: 403,
          error: 'The form had expired or came from another site: sign in again.',
        });
        return;
      }
      // a key pasted with its "Bearer " is taken as the key
      const key = form.success ? (bearerOf(form.data.key) ?? form.data.key) : undefined;
      const caller = key === undefined ? undefined : await deps.verifier.identify(key);
      if (key === undefined || caller === undefined) {
        sendLogin(req, res, {
          next,
          status: 401,
          error: key === undefined ? 'Paste an API key.' : 'That API key is unknown or revoked.',
        });
        return;
      }
      res.append('Set-Cookie', await sessions.start(hashApiKey(key), secure(req)));
      res.redirect(303, next);
    },
  );
  app.post(
    '/logout',
    forms,
    ...page(async (ctx, req, res) => {
      const token = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!sameOrigin(req) || !sessions.csrfMatches(ctx.viewer, token)) throw new HttpError(403, STALE_FORM);
      res.append('Set-Cookie', await sessions.end(ctx.viewer, secure(req)));
      res.redirect(303, deps.auth ? '/login' : '/');
      return undefined;
    }),
  );

  // The JSON each page shows, for a browser with a session: the API's read routes, read-only.
  app.use(
    DATA_PREFIX,
    async (req, res, next) => {
      const viewer = await viewerOf(req);
      if (viewer === undefined) {
        sendProblem(
          res,
          401,
          'sign in at /login first: /data answers to a dashboard session (the API at /v1 takes a Bearer key)',
        );
        return;
      }
      req.caller = { actor: viewer.actor, scopes: ['read'] };
      // An answer to a cookie is this browser's: no shared cache may keep it, pinned or not.
      onHeaders(res, () => {
        const cacheControl = res.getHeader('Cache-Control');
        if (typeof cacheControl === 'string')
          res.setHeader('Cache-Control', cacheControl.replace(/\bpublic\b/, 'private'));
      });
      next();
    },
    ...limited,
  );
  mountRoutes(
    app,
    routes.filter((route) => route.method === 'get' && route.access === 'read'),
    deps,
    { prefix: DATA_PREFIX },
  );
}
