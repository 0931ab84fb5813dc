import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AxeResults } from 'axe-core';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * A real browser for the dashboard's tests and screenshots: Debian's Chromium (`apt-get install -y
 * chromium`; CHROMIUM_PATH names another), driven by playwright-core, headless.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core's violations of WCAG 2.1 A and AA on the page, as `rule (impact): target` lines. */
export async function accessibilityViolations(
  page: Page,
  impacts: readonly string[] = ['serious', 'critical'],
): Promise<string[]> {
  // the pages' CSP runs no script: their context is opened with bypassCSP for this
  await page.addScriptTag({ path: AXE_SOURCE });
  // a string, evaluated in the page: this file is compiled without the DOM's types
  const results = (await page.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
  )) as AxeResults;
  return results.violations
    .filter((violation) => impacts.includes(violation.impact ?? ''))
    .flatMap((violation) =>
      violation.nodes.map((node) => `${violation.id} (${violation.impact}): ${node.target.join(' ')}`),
    );
}

/** Where the tests leave what a person may want to look at (CI keeps test-results/). */
export async function artifactPath(...parts: string[]): Promise<string> {
  const file = path.join(process.cwd(), 'test-results', ...parts);
  await mkdir(path.dirname(file), { recursive: true });
  return file;
}
