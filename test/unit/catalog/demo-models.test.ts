// The demo's models are current: none is on the pinned Anthropic SDK's deprecation table (models
// with an end-of-life date, for which the SDK warns at every call). The simulator lists them all.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { DEMO_MODELS } from '../../../src/demo.ts';
import { MODELS } from '../../../src/sim/models.ts';

test('no demo or simulator model is deprecated in the pinned Anthropic SDK', async () => {
  // Not an exported path of the SDK: loaded by file, as its own client does.
  const sdk = dirname(createRequire(import.meta.url).resolve('@anthropic-ai/sdk'));
  const { DEPRECATED_MODELS } = (await import(pathToFileURL(join(sdk, 'internal', 'data.mjs')).href)) as { DEPRECATED_MODELS: Record<string, string> };
  assert.ok(Object.keys(DEPRECATED_MODELS).length > 0, 'the table was found');
  const named = [...DEMO_MODELS.map((m) => m.id), ...MODELS.map((m) => m.id)];
  assert.deepEqual(named.filter((id) => id in DEPRECATED_MODELS).map((id) => `${id} (end of life ${DEPRECATED_MODELS[id]})`), []);
});

test('the simulator lists every demo model served under its own name', () => {
  const listed = new Set(MODELS.map((m) => m.id));
  for (const m of DEMO_MODELS.filter((x) => x.id !== 'nano-banana-pro')) assert.ok(listed.has(m.id), `${m.id} is in the simulator's list`);
});
