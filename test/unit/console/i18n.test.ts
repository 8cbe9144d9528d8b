// Every text the console shows exists in Chinese: the t('…') literals of its sources, its
// navigation labels and the values it shows through t(value) (roles, groupings, kinds, states).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ZH } from '../../../console/src/lib/zh.ts';

const SRC = join(import.meta.dirname, '..', '..', '..', 'console', 'src');
const files = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? files(join(d, n)) : /\.tsx?$/.test(n) ? [join(d, n)] : []));
const DYNAMIC = ['owner', 'admin', 'member', 'viewer', 'day', 'model', 'key', 'outcome', 'account', 'enterprise', 'individual', 'active', 'suspended', 'closed'];

test('every text of the console has a Chinese translation', () => {
  const texts = new Set<string>(DYNAMIC);
  for (const f of files(SRC)) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/\bt\('((?:[^'\\]|\\.)*)'/g)) texts.add(m[1]!.replace(/\\'/g, "'"));
    if (f.endsWith('routes.tsx')) {
      for (const m of src.matchAll(/label: '([^']*)'|soon\('[^']*', '([^']*)'\)/g)) texts.add((m[1] ?? m[2])!);
      for (const m of src.matchAll(/\['([^']*)', '([^']*)'\]|\["([^"]*)", "([^"]*)"\]/g)) for (const s of [m[1], m[2], m[3], m[4]]) if (s) texts.add(s);
    }
  }
  assert.ok(texts.size > 200, `found ${texts.size} texts`);
  const missing = [...texts].filter((s) => !(s in ZH));
  assert.deepEqual(missing, [], 'texts without a Chinese translation in console/src/lib/zh.ts');
});
