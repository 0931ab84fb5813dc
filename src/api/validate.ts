import type { z } from 'zod';
import { fieldIssues, ValidationError } from '../errors.ts';

/** Parses one part of a request (params, query, body) with zod; issues name `part.field`. */
export function parseRequest<T extends z.ZodType>(
  schema: T,
  input: unknown,
  part: 'params' | 'query' | 'body',
): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ValidationError(fieldIssues(parsed.error.issues, [part]));
}
