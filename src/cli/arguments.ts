import os from 'node:os';
import { modelName } from '../model/spec.ts';
import { versionNumberText, versionText } from '../versions/version-text.ts';
import { wholeNumber } from '../whole-number.ts';

/** Positional arguments shared by several commands. */
export const modelArgument = modelName;
export const versionArgument = versionText;
export const versionNumberArgument = versionNumberText;
export const limitOption = wholeNumber(1, 1000);

/** Who did it, for lineage and publication history: the CLI's user. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
}
