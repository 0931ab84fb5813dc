import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package this code belongs to, found from this file's own place: the TypeScript sources in a
 * checkout (src/) and the compiled copy (dist/src/) resolve to the same root, so files that ship
 * beside the code (seeds/models/, package.json) are found from either.
 */
function findPackageRoot(from: string): string {
  let folder = path.dirname(from);
  for (;;) {
    const manifest = path.join(folder, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'almanac'
    )
      return folder;
    const parent = path.dirname(folder);
    if (parent === folder) throw new Error(`no package.json of almanac above ${from}`);
    folder = parent;
  }
}

export const packageRoot = findPackageRoot(fileURLToPath(import.meta.url));

const manifest = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
  version: string;
};

/** The package's version: `almanac --version`, and the code version in every version's lineage. */
export const packageVersion: string = manifest.version;
