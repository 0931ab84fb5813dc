import { z } from 'zod';

/**
 * The words of zod's own checks, as every edge says them: `limit: must be a whole number`, not
 * `Invalid input: expected int, received string`. A check that names its message keeps it; this
 * is what the others say. Global, as zod's configuration is: the modules that define what users
 * send (specs, requests, settings, flags) import it.
 */

const TYPES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  date: 'a date',
};

const SCALARS = new Set(['string', 'number', 'int', 'bigint', 'boolean']);

type Bound = { origin: string; inclusive?: boolean; bound: number | bigint };

function bounded(side: 'least' | 'most', { origin, inclusive, bound }: Bound): string {
  const n = String(bound);
  if (origin === 'string') return `must be at ${side} ${n} characters`;
  if (origin === 'array' || origin === 'set') return `must have at ${side} ${n} items`;
  if (inclusive === false) return `must be ${side === 'least' ? 'more' : 'less'} than ${n}`;
  return `must be at ${side} ${n}`;
}

z.config({
  customError: (issue) => {
    switch (issue.code) {
      case 'invalid_type':
        if (issue.input === undefined) return 'is required';
        // a repeated query field arrives as a list
        if (Array.isArray(issue.input) && SCALARS.has(issue.expected)) return 'must be one value, not a list';
        return `must be ${TYPES[issue.expected] ?? issue.expected}`;
      case 'too_small':
        return bounded('least', { origin: issue.origin, inclusive: issue.inclusive, bound: issue.minimum });
      case 'too_big':
        return bounded('most', { origin: issue.origin, inclusive: issue.inclusive, bound: issue.maximum });
      case 'invalid_value':
        return `must be ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
      default:
        return undefined;
    }
  },
});
