import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../src/package-info.ts';

/** The spec files ship as JSON beside the code (not compiled): found from the package's root. */
export const demoSpecsFolder = path.join(packageRoot, 'seeds', 'models', path.sep);

/** The demo model spec files, as paths. */
export async function demoSpecFiles(): Promise<string[]> {
  const names = (await readdir(demoSpecsFolder)).filter((name) => name.endsWith('.json')).sort();
  return names.map((name) => `${demoSpecsFolder}${name}`);
}

export async function readDemoSpec(name: string): Promise<unknown> {
  return JSON.parse(await readFile(`${demoSpecsFolder}${name}.json`, 'utf8'));
}
