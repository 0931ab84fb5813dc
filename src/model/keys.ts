import { z } from 'zod';

/** Keys are 1 to 256 characters of any Unicode except control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what keys may not hold
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;

export function isValidKey(key: unknown): key is string {
  // .length counts UTF-16 units, never fewer than characters: count characters only when it must.
  return (
    typeof key === 'string' &&
    key.length >= 1 &&
    (key.length <= 256 || [...key].length <= 256) &&
    !controlCharacter.test(key)
  );
}

export const keySchema = z
  .string()
  .min(1, 'must be 1 to 256 characters')
  .refine((key) => [...key].length <= 256, 'must be 1 to 256 characters')
  .refine((key) => !controlCharacter.test(key), 'must not contain control characters');

/** Why a key cannot be served, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'missing key';
  const length = key.length <= 256 ? key.length : [...key].length;
  if (length > 256) return `key is ${length} characters long; at most 256`;
  if (controlCharacter.test(key)) return 'key contains control characters';
  return undefined;
}
