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

/** 415 unless the body is declared as CSV. */
export const requireCsv: RequestHandler = (req, _res, next) => {
  if (!req.is('text/csv')) throw new HttpError(415, 'send the CSV with "Content-Type: text/csv"');
  next();
};
