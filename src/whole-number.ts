import { z } from 'zod';

/** A whole number from min to max, from text (an environment variable, a flag) or a number. */
export function wholeNumber(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(max, message);
}
