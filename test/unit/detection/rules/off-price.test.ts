import assert from 'node:assert/strict';
import { test } from 'node:test';
import { offPrice } from '../../../../src/detection/rules/off-price.ts';
import { ctx, row } from './fixtures.ts';

test("off_price: a charge above its usage at the row's price version; the group multiplier counts", () => {
  const right = row();
  const over = row({ amount: 5_000_100n });
  const under = row({ amount: 4_000_000n });
  // vip pays 90 %: $0.0045; charged the full $0.005
  const vip = row({ account_id: 'acct_vip' });
  const vipRight = row({ account_id: 'acct_vip', amount: 4_500_000n });
  const unknown = row({ price_version: 9 });
  const found = offPrice.check([right, over, under, vip, vipRight, unknown], ctx());
  assert.deepEqual(found.map((f) => f.subject), [over.id, vip.id, unknown.id]);
  assert.deepEqual(found[0]!.stakes, { [over.id]: 100n });
  assert.equal(found[0]!.reason, 'Charged $0.0050001 but its billable usage at chat-model price version 1 costs $0.005: $0.0000001 too much.');
  assert.deepEqual(found[1]!.stakes, { [vip.id]: 500_000n });
  assert.deepEqual(found[2]!.stakes, { [unknown.id]: 5_000_000n }, 'no such price version: the whole charge is off the price book');
  assert.equal(found[0]!.evidence.expected, 5_000_000n);
});
