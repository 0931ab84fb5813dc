import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PREFIX = 'almanac-';

/** A scratch file in its own temporary folder, removed (folder and all) by `remove`. */
export async function createSpillFile(name: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), PREFIX));
  return {
    path: path.join(folder, `${name}.copy`),
    remove: () => rm(folder, { recursive: true, force: true }),
  };
}

/**
 * Removes spill folders left by workers that were killed mid-run. Only folders older than a day
 * go: another worker on the same host may be using a younger one.
 */
export async function sweepSpillFiles(maxAgeMs = 24 * 3600 * 1000): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const folder = path.join(tmpdir(), name);
    const info = await stat(folder).catch(() => undefined);
    if (info?.isDirectory() && Date.now() - info.mtimeMs > maxAgeMs) {
      await rm(folder, { recursive: true, force: true });
      removed += 1;
    }
  }
  return removed;
}
