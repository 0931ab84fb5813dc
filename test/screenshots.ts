/**
 * `npm run screenshots`: the README's pictures of the dashboard, made from the real demo. It runs
 * `almanac demo` on a database and a Redis prefix of its own, signs in with the key the demo
 * prints, saves the models page, a model page and a drift report to test/screenshots/, then stops
 * the demo and drops what it made.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './helpers/browser.ts';
import { createDatabase, dropDatabase, dropRedisPrefix, newRedisPrefix } from './helpers/services.ts';
import { startBin } from './helpers/spawn.ts';
import { waitFor } from './helpers/worker-process.ts';

const OUT = fileURLToPath(new URL('./screenshots/', import.meta.url));
const PAGES = [
  { file: 'models.png', path: '/', fullPage: true },
  { file: 'model.png', path: '/models/nasdaq-close', fullPage: true },
  { file: 'drift-report.png', path: '/models/nasdaq-close/versions/3', fullPage: false, height: 2100 },
];

const database = await createDatabase('screenshots');
const prefix = newRedisPrefix();
const demo = startBin(['demo'], {
  DATABASE_URL: database.url,
  ALMANAC_REDIS_PREFIX: prefix,
  PORT: '0',
  ALMANAC_AUTH: 'on',
  LOG_LEVEL: 'warn',
});
try {
  const url = await waitFor(
    async () => /Press Ctrl-C to stop\. The dashboard:\n(http:\/\/\S+)\//.exec(demo.stdout())?.[1],
    180_000,
    'the demo to serve',
    250,
  );
  const key = /export ALMANAC_KEY=(\S+)/.exec(demo.stdout())?.[1] ?? '';
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ baseURL: url, viewport: { width: 1280, height: 900 } });
    await page.goto('/login');
    await page.fill('#key', key);
    await Promise.all([page.waitForURL((at) => at.pathname === '/'), page.click('button[type=submit]')]);
    await mkdir(OUT, { recursive: true });
    for (const shot of PAGES) {
      await page.setViewportSize({ width: 1280, height: shot.height ?? 900 });
      await page.goto(shot.path);
      await page.screenshot({ path: `${OUT}${shot.file}`, fullPage: shot.fullPage });
      console.log(`saved test/screenshots/${shot.file}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await demo.stop('SIGINT');
  await dropRedisPrefix(prefix);
  await dropDatabase(database.name);
}
