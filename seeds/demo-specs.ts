import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const demoSpecsFolder = fileURLToPath(new URL('./models/', import.meta.url));

/** The demo model spec files, as paths. */
export async function demoSpecFiles(): Promise<string[]> {
  const names = (await readdir(demoSpecsFolder)).filter((name) => name.endsWith('.json')).sort();
  return names.map((name) => `${demoSpecsFolder}${name}`);
}

export async function readDemoSpec(name: string): Promise<unknown> {
  return JSON.parse(await readFile(`${demoSpecsFolder}${name}.json`, 'utf8'));
}
