import type { RequestHandler } from 'express';
import { HttpError } from '../errors.ts';

/** The charset a Content-Type names, lower case; undefined when it names none. */
function charsetOf(contentType: string | undefined): string | undefined {
  return /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
}

/** 415 for a charset other than UTF-8: the body would be misread, then called malformed. */
function refuseCharset(req: Parameters<RequestHandler>[0], what: string): void {
  const charset = charsetOf(req.get('content-type'));
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpError(415, `send the ${what} in UTF-8: charset "${charset}" is not read`);
  }
}

/** 415 unless the body is declared as JSON in UTF-8 (express.json leaves other bodies unread). */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    throw new HttpError(415, 'send the body as JSON, with "Content-Type: application/json"');
  }
  refuseCharset(req, 'JSON');
  next();
};

/**
 * For an optional body: none at all is fine (type-is answers null), and so is an empty one without
 * a type (fetch sends `Content-Length: 0` for a POST without a body); any other than JSON is a 415.
 */
export const optionalJson: RequestHandler = (req, _res, next) => {
  if (req.headers['content-length'] !== '0' && req.is('application/json') === false) {
    throw new HttpError(415, 'send the body as JSON, with "Content-Type: application/json"');
  }
  refuseCharset(req, 'JSON');
  next();
};

/**
 * 415 unless the body is declared as CSV, in UTF-8 (a charset, if given, must say so) and not
 * compressed: the import reads the bytes as they come, so a body it would misread is refused.
 */
export const requireCsv: RequestHandler = (req, _res, next) => {
  if (!req.is('text/csv')) throw new HttpError(415, 'send the CSV with "Content-Type: text/csv"');
  refuseCharset(req, 'CSV');
  const encoding = (req.get('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new HttpError(415, `send the CSV uncompressed: Content-Encoding "${encoding}" is not read`);
  }
  next();
};
