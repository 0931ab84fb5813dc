import os from 'node:os';
import { z } from 'zod';
import { modelName } from '../model/spec.ts';
import { wholeNumber } from '../whole-number.ts';

/** Positional arguments shared by several commands. */
export const modelArgument = modelName;
export const versionArgument = z.union(
  [
    z.literal('latest'),
    z.coerce
      .number({ error: 'must be a version number or "latest"' })
      .int('must be a version number or "latest"')
      .positive('must be a version number or "latest"'),
  ],
  { error: 'must be a version number or "latest"' },
);
export const limitOption = wholeNumber(1, 1000);

/** Who did it, for lineage and publication history: the CLI's user. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
}
