// Debian's Chromium driven by playwright-core for the browser tests (never a downloaded browser).
// `.ci/run` installs the chromium package when it is missing; without it the tests are skipped
// with the reason.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.SURETY_CHROMIUM ?? '/usr/bin/chromium';
// Headless, and none of the background connections this machine's closed network refuses.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium package)`;

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS });

/** test-artifacts/<name>/, created: where a browser test saves its screenshots. */
export function shotsDir(name: string): string {
  const dir = join(import.meta.dirname, '..', '..', 'test-artifacts', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
