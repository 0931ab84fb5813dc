import os from 'node:os';
import { z } from 'zod';
import { modelName } from '../model/spec.ts';

/** Positional arguments shared by several commands. */
export const modelArgument = modelName;
export const versionArgument = z.union([
  z.literal('latest'),
  z.coerce
    .number({ error: 'must be a version number or "latest"' })
    .int('must be a version number or "latest"')
    .positive('must be a version number or "latest"'),
]);
export const limitOption = z.coerce
  .number({ error: 'must be a whole number from 1 to 1000' })
  .int('must be a whole number from 1 to 1000')
  .min(1, 'must be a whole number from 1 to 1000')
  .max(1000, 'must be a whole number from 1 to 1000');

/** Who did it, for lineage and publication history: the CLI's user. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
}
