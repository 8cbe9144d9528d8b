import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// The hash of everything console/dist is built from: the console's sources and config, the
// server files its bundle imports, and the exact versions of the build tools and libraries.

const ROOT = join(import.meta.dirname, '..');
const INPUTS = ['console/index.html', 'console/vite.config.ts', 'console/src', 'src/requests/outcomes.ts'];
const PACKAGES = ['vite', 'preact', '@preact/preset-vite', 'uplot'];

function files(p: string): string[] {
  const abs = join(ROOT, p);
  if (!statSync(abs).isDirectory()) return [p];
  return readdirSync(abs).sort().flatMap((n) => files(`${p}/${n}`));
}

export function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of INPUTS.flatMap(files)) h.update(`${relative(ROOT, join(ROOT, f))}\0`).update(readFileSync(join(ROOT, f))).update('\0');
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  for (const p of PACKAGES) h.update(`${p}@${lock.packages[`node_modules/${p}`]?.version ?? 'missing'}\0`);
  return h.digest('hex');
}
