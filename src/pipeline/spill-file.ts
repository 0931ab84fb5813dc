import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A scratch file in its own temporary folder, removed (folder and all) by `remove`. */
export async function createSpillFile(name: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'almanac-'));
  return {
    path: path.join(folder, `${name}.copy`),
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}
