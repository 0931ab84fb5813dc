import type { RequestHandler } from 'express';
import { HttpError } from '../errors.ts';

/** 415 unless the body is declared as JSON (express.json leaves other bodies unread). */
export const requireJson: RequestHandler = (req, _res, next) => {
  if (!req.is('application/json')) {
    throw new HttpError(415, 'send the body as JSON, with "Content-Type: application/json"');
  }
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
  next();
};

/**
 * 415 unless the body is declared as CSV, in UTF-8 (a charset, if given, must say so) and not
 * compressed: the import reads the bytes as they come, so a body it would misread is refused.
 */
export const requireCsv: RequestHandler = (req, _res, next) => {
  if (!req.is('text/csv')) throw new HttpError(415, 'send the CSV with "Content-Type: text/csv"');
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(req.get('content-type') ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpError(415, `send the CSV in UTF-8: charset "${charset}" is not read`);
  }
  const encoding = (req.get('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new HttpError(415, `send the CSV uncompressed: Content-Encoding "${encoding}" is not read`);
  }
  next();
};
