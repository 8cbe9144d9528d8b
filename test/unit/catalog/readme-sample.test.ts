// The README's sample SURETY_CONFIG file is a valid catalog file, and it leaves the demo whole: a
// model the file defines is never routed to the simulator, so a sample naming a demo model would
// take it away from the demo (its curl would answer NO_CHANNEL).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCatalogFile } from '../../../src/catalog/index.ts';
import { DEMO_MODELS } from '../../../src/demo.ts';

const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');

test('the README sample catalog file is valid and names no demo model', () => {
  const section = readme.slice(readme.indexOf('### Channels, models, prices'));
  const sample = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(sample, 'the section has a JSON sample');
  const dir = mkdtempSync(join(tmpdir(), 'surety-readme-'));
  try {
    writeFileSync(join(dir, 'catalog.json'), sample);
    const file = readCatalogFile(join(dir, 'catalog.json'));
    const demo = new Set<string>(DEMO_MODELS.map((m) => m.id));
    const named = [...Object.keys(file.models), ...file.channels.flatMap((c) => c.models)];
    assert.ok(named.length >= 3);
    assert.deepEqual(named.filter((id) => demo.has(id)), [], 'sample models that would leave the demo');
    assert.ok(file.channels.every((c) => !c.name.startsWith('sim-')), 'sim-* names are the demo channels');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the README names the demo models as the demo creates them', () => {
  for (const m of DEMO_MODELS) assert.ok(readme.includes(`\`${m.id}\``), `${m.id} is in the README`);
});
