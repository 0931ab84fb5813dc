#!/usr/bin/env node
// The almanac command. Plain JavaScript that any Node can start, so that a Node too old for
// Almanac is told so in one line; the CLI itself is the compiled package (dist/), run in this
// same process.
import { existsSync, readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const needed = manifest.engines.node;
const minimum = Number(/\d+/.exec(needed)[0]);
const major = Number(process.versions.node.split('.')[0]);
if (major < minimum) {
  process.stderr.write(`almanac needs Node.js ${needed} (24 LTS is best); this is ${process.version}\n`);
  process.exit(1);
}
const entry = new URL('../dist/src/cli/run.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('almanac is not built yet: run `npm run build` (npm ci does it) in its folder\n');
  process.exit(1);
}
await import(entry.href);
