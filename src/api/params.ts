import { z } from 'zod';
import { keySchema } from '../model/keys.ts';
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

const LIMIT = 'must be a whole number from 1 to 1000';

/** `?limit=` of a listing: 1 to 1000. */
export const limitQuery = z
  .string()
  .regex(/^\d{1,4}$/, LIMIT)
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, LIMIT)
  .meta({ type: 'integer', minimum: 1, maximum: 1000 });
