import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billedOnFailure } from '../../../../src/detection/rules/billed-on-failure.ts';
import { ctx, row } from './fixtures.ts';

test('billed_on_failure: a charge on an outcome that is never billed, paid back in full', () => {
  const bad = row({ outcome: 'upstream_error', status: 502 });
  const plat = row({ outcome: 'platform_error', status: 500, amount: 7n });
  const found = billedOnFailure.check([row(), bad, row({ outcome: 'upstream_timeout', amount: 0n }), plat, row({ outcome: 'client_cancelled' }), row({ outcome: 'upstream_moderation' })], ctx());
  assert.deepEqual(found.map((f) => f.subject), [bad.id, plat.id]);
  assert.deepEqual(found[0]!.stakes, { [bad.id]: 5_000_000n });
  assert.equal(found[0]!.reason, 'Charged $0.005 on outcome upstream_error, which is never billed (The upstream failed or delivered nothing usable, after retries).');
  assert.deepEqual(found[1]!.stakes, { [plat.id]: 7n });
  assert.deepEqual(found[0]!.request_ids, [bad.id]);
});
