import type { VersionState } from '../db/types.ts';
import { GoneError, NotFoundError } from '../errors.ts';

/** Which versions may be read for what, and the answers for the others. */

/** Versions clients may read (lookups, snapshots, exports): a rejected one is never served. */
export const SERVED_STATES: ReadonlySet<VersionState> = new Set(['held', 'published', 'superseded']);

/** Versions whose rows are still there (retention drops them): what diffs and realized accuracy read. */
export const STATES_WITH_ROWS = [
  'held',
  'published',
  'superseded',
  'rejected',
] as const satisfies VersionState[];

export const WITH_ROWS: ReadonlySet<VersionState> = new Set(STATES_WITH_ROWS);

export function prunedError(model: string, number: number): GoneError {
  return new GoneError(`version ${number} of "${model}" was pruned by retention; its estimates are gone`);
}

/** 410 for a pruned version, 404 for one in a state `allowed` does not hold, saying why (`purpose`). */
export function requireReadable(
  model: string,
  version: { number: number; state: VersionState },
  allowed: ReadonlySet<VersionState>,
  purpose: string,
): void {
  if (version.state === 'pruned') throw prunedError(model, version.number);
  if (!allowed.has(version.state)) {
    throw new NotFoundError(`version ${version.number} of "${model}" is ${version.state}; ${purpose}`);
  }
}
