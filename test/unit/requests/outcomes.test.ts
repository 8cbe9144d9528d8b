// The outcome table is pinned: each outcome, whether it is billed and whose fault it is, against
// DESIGN.md's table (as the README publishes it) — a change to either fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OUTCOMES, mayBill } from '../../../src/requests/outcomes.ts';

const README = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8');

test('the outcomes are exactly DESIGN.md\'s, with its billing and fault columns', () => {
  assert.deepEqual(Object.keys(OUTCOMES).sort(), [
    'auth_error', 'client_cancelled', 'client_error', 'insufficient_balance', 'key_limit', 'ok', 'platform_error', 'rate_limited',
    'upstream_error', 'upstream_moderation', 'upstream_rate_limited', 'upstream_timeout',
  ]);
  const billed = (Object.keys(OUTCOMES) as Array<keyof typeof OUTCOMES>).filter((k) => mayBill(k)).sort();
  assert.deepEqual(billed, ['client_cancelled', 'ok', 'upstream_moderation']);
  assert.equal(OUTCOMES.platform_error.availability, 'bad', 'the platform\'s own faults count against availability');
  assert.equal(OUTCOMES.platform_error.fault, 'platform');
  for (const o of ['client_error', 'auth_error', 'insufficient_balance', 'key_limit', 'rate_limited', 'client_cancelled'] as const) assert.equal(OUTCOMES[o].availability, 'excluded', o);
});

test('the README\'s outcome table lists every outcome', () => {
  for (const o of Object.keys(OUTCOMES)) assert.match(README, new RegExp(`\\| [^|]*\`${o}\``), `${o} is in the README`);
});
