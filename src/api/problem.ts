import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { classifyError } from '../classify-error.ts';
import { type FieldIssue, ValidationError } from '../errors.ts';

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
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

/** The body of an RFC 9457 problem document. */
export function problemJson(status: number, detail: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 'about:blank', title: titles[status] ?? 'Error', status, detail, ...extra });
}

/**
 * The one error middleware: an error becomes the status and headers src/classify-error.ts gives
 * it, with a plain detail (and the field issues of bad input). A bug is logged with its stack and
 * answered as a bare 500 that says nothing more.
 */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      // a stream that failed half-way: the connection is all that can be closed
      req.socket.destroy();
      return;
    }
    const classified = classifyError(error);
    if (classified.kind === 'unexpected') {
      logger.error({ err: error, url: req.originalUrl }, 'unexpected error');
      sendProblem(res, 500, 'an unexpected error occurred');
      return;
    }
    if (classified.kind === 'unavailable') logger.warn({ err: error }, 'a dependency failed');
    res.set(classified.headers);
    sendProblem(
      res,
      classified.status,
      // the issues name each field; the detail says what they are
      error instanceof ValidationError ? 'the request has invalid fields' : classified.message,
      classified.issues === undefined ? {} : { errors: classified.issues },
    );
  };
}

/** The 429 answer: its detail and Retry-After, for the app's limiter and the lookup fast path. */
export function tooManyRequests(
  perMinute: number,
  resetTime: Date | undefined,
): { detail: string; retryAfter: string } {
  const seconds =
    resetTime === undefined ? 60 : Math.max(1, Math.ceil((resetTime.getTime() - Date.now()) / 1000));
  return {
    detail: `more than ${perMinute} requests a minute; retry in ${seconds} s`,
    retryAfter: String(seconds),
  };
}
