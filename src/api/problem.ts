import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { classifyError } from '../classify-error.ts';
import type { FieldIssue } from '../errors.ts';

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Writes an RFC 9457 problem document. */
export function sendProblem(
  res: Response,
  status: number,
  detail: string,
  extra: { errors?: readonly FieldIssue[] | readonly unknown[] } = {},
): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(problemJson(status, detail, extra));
}

/** The title of a status, as problem documents and status lines give it. */
export function problemTitle(status: number): string {
  return titles[status] ?? 'Error';
}

/** The body of an RFC 9457 problem document. */
export function problemJson(status: number, detail: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'about:blank', title: problemTitle(status), status, detail, ...extra });
}

/**
 * The answer to an error, as src/classify-error.ts classifies it: its status, headers and problem
 * document. A bug is logged with its stack and answered as a bare 500 that says nothing more; a
 * dependency that failed is logged as a warning. Both serving paths answer errors through here.
 */
export function problemFor(
  error: unknown,
  logger: Logger,
  url: string,
): {
  status: number;
  headers: Readonly<Record<string, string>>;
  detail: string;
  issues: readonly FieldIssue[] | undefined;
  body: string;
} {
  const classified = classifyError(error);
  if (classified.kind === 'unexpected') logger.error({ err: error, url }, 'unexpected error');
  else if (classified.kind === 'unavailable') logger.warn({ err: error, url }, 'a dependency failed');
  return {
    status: classified.status,
    headers: classified.headers,
    detail: classified.detail,
    issues: classified.issues,
    body: problemJson(
      classified.status,
      classified.detail,
      classified.issues === undefined ? {} : { errors: classified.issues },
    ),
  };
}

/**
 * What a dashboard page sets on `res.locals` to have its errors answered as a page: the same
 * status and sentence, in HTML (src/ui/dashboard.ts).
 */
export type ErrorPage = (status: number, detail: string, issues: readonly FieldIssue[] | undefined) => string;
declare module 'express-serve-static-core' {
  interface Locals {
    errorPage?: ErrorPage;
  }
}

/** The one error middleware of the Express app. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      // a stream that failed half-way: the connection is all that can be closed
      req.socket.destroy();
      return;
    }
    const answer = problemFor(error, logger, req.originalUrl);
    res.status(answer.status).set(answer.headers);
    const page = res.locals.errorPage;
    if (page !== undefined) res.type('html').send(page(answer.status, answer.detail, answer.issues));
    else res.type('application/problem+json').send(answer.body);
  };
}

/**
 * The 429 answer: its detail and Retry-After, for the app's limiter, the lookup fast path and the
 * limit on failed authentications.
 */
export function tooManyRequests(
  perMinute: number,
  resetTime: Date | undefined,
  counted = 'requests',
): { detail: string; retryAfter: string } {
  const seconds =
    resetTime === undefined ? 60 : Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000));
  return {
    detail: `more than ${perMinute} ${counted} a minute; retry in ${seconds} s`,
    retryAfter: String(seconds),
  };
}
