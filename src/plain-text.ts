import { z } from 'zod';
import { controlCharacter } from './model/keys.ts';

/**
 * Free text a person writes (a reason, a note, a description): at most `max` characters, without
 * control characters (as keys: a NUL cannot be stored, and an escape sequence or a carriage
 * return would redraw a terminal that prints it, `almanac pins` or `history`), and well formed
 * (no lone surrogate, which JSON can write but Postgres cannot store). On one line, unless
 * `lines` lets line breaks and tabs through (a model's description is documentation). Refused
 * with a message naming the field rather than by the database.
 */
export function plainText(max: number, options: { lines?: boolean } = {}) {
  // line breaks of any platform (\n, \r\n) and tabs, where lines are let through
  const allowed = options.lines === true ? /[\n\r\t]/g : undefined;
  const message =
    allowed === undefined
      ? 'must not contain control characters (line breaks included)'
      : 'must not contain control characters (other than line breaks and tabs)';
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine(
      (text) => !controlCharacter.test(allowed === undefined ? text : text.replace(allowed, '')),
      message,
    )
    .refine((text) => text.isWellFormed(), 'must be well-formed text (it holds a lone surrogate)');
}
