import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleHold } from '../../../../src/detection/rules/stale-hold.ts';
import type { HoldFacts } from '../../../../src/detection/rules/types.ts';
import { ctx } from './fixtures.ts';

test('stale_hold: open past its TTL and the grace, or posted after its TTL', () => {
  const c = ctx();
  const h = (over: Partial<HoldFacts>): HoldFacts => ({ id: 'hold_x', account_id: 'acct_a', amount: 1_000_000_000n, posted: 0n, status: 'open', created_at: c.now - 1_000_000, expires_at: c.now - 100_000, settled_at: null, ...over });
  const found = staleHold.check([
    h({ id: 'hold_stale' }),
    h({ id: 'hold_grace', expires_at: c.now - 30_000 }),
    h({ id: 'hold_late', status: 'posted', posted: 250_000_000n, settled_at: c.now - 50_000 }),
    h({ id: 'hold_ok', status: 'posted', posted: 250_000_000n, settled_at: c.now - 200_000 }),
    h({ id: 'hold_voided', status: 'voided', settled_at: c.now }),
  ], c);
  assert.deepEqual(found.map((f) => f.subject), ['hold_stale', 'hold_late']);
  assert.deepEqual(found[0]!.stakes, {}, 'an open hold charged nothing: verifying it voids it');
  assert.equal(found[0]!.reason, "Hold hold_stale of $1.00 is still open 100 s after its TTL ended: it keeps the customer's money reserved.");
  assert.deepEqual(found[1]!.stakes, { 'hold:hold_late': 250_000_000n });
});
