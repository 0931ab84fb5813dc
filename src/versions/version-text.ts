import { z } from 'zod';

/** A version as text (a URL, a query, a CLI argument): the per-model number, an int4. */

const MAX_VERSION = 2_147_483_647;
const NUMBER_MESSAGE = `must be a version number (1 to ${MAX_VERSION})`;
const NUMBER_OR_LATEST_MESSAGE = `must be a version number (1 to ${MAX_VERSION}) or "latest"`;

const isVersionNumber = (text: string) => /^[1-9]\d{0,9}$/.test(text) && Number(text) <= MAX_VERSION;

// The document shows what the text stands for, an integer (zod-to-openapi reads `.meta`).
export const versionNumberText = z
  .string({ error: NUMBER_MESSAGE })
  .refine(isVersionNumber, NUMBER_MESSAGE)
  .transform((text) => Number(text))
  .meta({ type: 'integer', minimum: 1, maximum: MAX_VERSION });

/** A number, or `latest`: the published version. */
export const versionText = z.union([versionNumberText, z.literal('latest')], {
  error: NUMBER_OR_LATEST_MESSAGE,
});
