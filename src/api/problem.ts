import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { hasSqlState, PgError } from '../db/pg-errors.ts';
import {
  ConflictError,
  type FieldIssue,
  GoneError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../errors.ts';

/** An error that is already an HTTP answer (401, 403, 413, 415, 429, 503...). */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    message: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
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
 * The one error middleware: known errors become their status with a plain detail (and the field
 * issues of bad input); anything else is logged with its stack and answered as a bare 500.
 */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      // a stream that failed half-way: the connection is all that can be closed
      req.socket.destroy();
      return;
    }
    if (error instanceof ValidationError) {
      sendProblem(res, 400, 'the request has invalid fields', { errors: error.issues });
      return;
    }
    if (error instanceof NotFoundError) return sendProblem(res, 404, error.message);
    if (error instanceof GoneError) return sendProblem(res, 410, error.message);
    if (error instanceof ConflictError) return sendProblem(res, 409, error.message);
    if (error instanceof UnavailableError) {
      res.set('Retry-After', '5');
      return sendProblem(res, 503, error.message);
    }
    if (error instanceof HttpError) {
      res.set(error.headers);
      return sendProblem(res, error.status, error.message);
    }
    const parser = error as { type?: string; status?: number; message?: string };
    if (parser.type === 'entity.parse.failed') {
      return sendProblem(res, 400, 'the body is not valid JSON', {
        errors: [{ path: 'body', message: 'malformed JSON' }],
      });
    }
    if (parser.type === 'entity.too.large' || parser.status === 413) {
      return sendProblem(res, 413, 'the body is too large');
    }
    if (parser.type === 'encoding.unsupported' || parser.type === 'charset.unsupported') {
      return sendProblem(res, 415, parser.message ?? 'unsupported encoding');
    }
    if (hasSqlState(error, PgError.queryCanceled) || isConnectionFailure(error)) {
      logger.warn({ err: error }, 'a dependency failed');
      return sendProblem(res, 503, 'the database is not reachable right now; try again shortly');
    }
    logger.error({ err: error, url: req.originalUrl }, 'unexpected error');
    sendProblem(res, 500, 'an unexpected error occurred');
  };
}

function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === PgError.adminShutdown ||
    (error instanceof Error &&
      /Connection terminated|timeout exceeded when trying to connect/.test(error.message))
  );
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
