import { z } from 'zod';

/**
 * Characters no text of ours holds: C0 and C1 controls. A NUL cannot be stored at all, and an
 * escape sequence or a carriage return in a note would redraw a terminal that prints it (`almanac
 * pins`, `history`); keys refuse them too (src/model/keys.ts).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
export const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Free text a person writes (a reason, a note, a description): at most `max` characters, on one
 * line, without control characters, and well formed (no lone surrogate, which JSON can write but
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
