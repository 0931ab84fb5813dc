import { z } from 'zod';
import { parseInstant } from '../instant.ts';
import { keySchema } from '../model/key-schema.ts';
import { modelName } from '../model/spec.ts';
import { versionNumberText, versionText } from '../versions/version-text.ts';

/** Request fields shared by routes, with the messages clients see. */

/** A version number in a JSON body. */
export const versionNumber = z
  .number({ error: 'must be a version number (1 to 2147483647)' })
  .int('must be a version number (1 to 2147483647)')
  .min(1, 'must be a version number (1 to 2147483647)')
  .max(2_147_483_647, 'must be a version number (1 to 2147483647)');

export const modelParam = z.object({ model: modelName });
export const versionParams = z.object({ model: modelName, version: versionText });
/** A version that must be a number (publish, reject): `latest` is already published. */
export const versionNumberParams = z.object({ model: modelName, version: versionNumberText });
export const keyParams = z.object({ model: modelName, key: keySchema });
export { keySchema, modelName, versionNumberText, versionText };

/**
 * An instant (`?at=`, a batch's `"at"`): RFC 3339 with its offset, up to 6 fractional digits, or a
 * date (midnight UTC); its milliseconds since the epoch, rounded down (publication intervals start
 * and end on whole milliseconds, so that is exact for finding the one that holds it).
 */
export const instantText = z
  .string({ error: 'must be a time, e.g. 2026-05-01T16:00:00Z' })
  .transform((text, ctx) => {
    const parsed = parseInstant(text);
    if ('ms' in parsed) return parsed.ms;
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  })
  .meta({ type: 'string', format: 'date-time' });

const LIMIT = 'must be a whole number from 1 to 1000';

/** `?limit=` of a listing: 1 to 1000. */
export const limitQuery = z
  .string()
  .regex(/^\d{1,4}$/, LIMIT)
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, LIMIT)
  .meta({ type: 'integer', minimum: 1, maximum: 1000 });

/** An instant that has not come yet (a pin's expiry), as a Date. */
export const futureInstant = instantText
  .refine((ms) => ms > Date.now(), 'must be in the future')
  .transform((ms) => new Date(ms))
  .meta({ type: 'string', format: 'date-time' });
