import { z } from 'zod';
import { controlCharacter } from './model/keys.ts';

/**
 * Free text a person writes (a reason, a note, a description): at most `max` characters, on one
 * line, without control characters (as keys: a NUL cannot be stored, and an escape sequence or a
 * carriage return would redraw a terminal that prints it, `almanac pins` or `history`), and well formed (no lone surrogate, which JSON can write but
 * Postgres cannot store). Refused with a message naming the field rather than by the database.
 */
export function plainText(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine(
      (text) => !controlCharacter.test(text),
      'must not contain control characters (line breaks included)',
    )
    .refine((text) => text.isWellFormed(), 'must be well-formed text (it holds a lone surrogate)');
}
