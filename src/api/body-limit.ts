import express, { type Request, type RequestHandler } from 'express';
import { HttpError } from '../errors.ts';

/** The largest JSON body any route takes (OpenAPI's 413 says so: src/api/openapi.ts). */
export const JSON_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * A parser of `type` bodies up to `limit` bytes, which refuses a larger declared Content-Length
 * at once. body-parser alone answers 413 only after it has drained the whole declared body, so a
 * client that declares 2 GB and sends a few bytes would be held until the idle timeout; refused
 * here, the body is left unread and the connection guard closes the connection.
 */
export function limitedBodyParser(
  parse: RequestHandler,
  type: string,
  limit: number,
  what: string,
): RequestHandler {
  return (req, res, next) => {
    const refused = typeof req.is(type) === 'string' ? declaredOver(req, limit, what) : undefined;
    if (refused !== undefined) next(refused);
    else parse(req, res, next);
  };
}

/**
 * The 413 for a request whose Content-Length is over `limit`, before a byte of its body is read;
 * undefined when it declares no more (what it then sends is still counted by whoever reads it).
 */
export function declaredOver(
  req: Request,
  limit: number,
  what: string,
  limitName?: string,
): HttpError | undefined {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (!(declared > limit)) return undefined;
  const named = limitName === undefined ? '' : ` (${limitName})`;
  return new HttpError(413, `the ${what} is ${declared} bytes; the limit is ${limit}${named}`);
}

/** JSON bodies, up to JSON_BODY_LIMIT_BYTES. */
export const jsonBody = limitedBodyParser(
  express.json({ limit: JSON_BODY_LIMIT_BYTES, type: 'application/json' }),
  'application/json',
  JSON_BODY_LIMIT_BYTES,
  'JSON body',
);
