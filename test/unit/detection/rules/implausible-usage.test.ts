import assert from 'node:assert/strict';
import { test } from 'node:test';
import { implausibleUsage } from '../../../../src/detection/rules/implausible-usage.ts';
import { ctx, row } from './fixtures.ts';

const usage = (output: number) => ({ input_tokens: 1000, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: output, reasoning_tokens: 0, images: 0, estimated: false });

test("implausible_usage: a charge above the hold max_tokens allowed, output above the model's limit, usage that moved backwards", () => {
  const overHold = row({ hold_amount: 4_000_000n });
  // 5000 output tokens, limit 4096: 1000 × $1/M + 5000 × $2/M = $0.011; capped at 4096: $0.009192
  const overLimit = row({ usage_billable: usage(5000), amount: 11_000_000n, hold_amount: 20_000_000n });
  const regressed = row({ delivered: { images: 0, text_chars: 10, usage_regressed: true } });
  const found = implausibleUsage.check([row(), overHold, overLimit, regressed], ctx());
  assert.deepEqual(found.map((f) => f.subject), [overHold.id, overLimit.id, regressed.id]);
  assert.deepEqual(found[0]!.stakes, { [overHold.id]: 1_000_000n });
  assert.equal(found[0]!.reason, 'Implausible usage: the charge of $0.005 is above the hold of $0.004 that max_tokens allowed.');
  assert.deepEqual(found[1]!.stakes, { [overLimit.id]: 11_000_000n - 9_192_000n });
  assert.match(found[1]!.reason, /5000 output tokens are above the model's limit of 4096/);
  assert.deepEqual(found[2]!.stakes, {}, 'a regressed usage alone is for an operator to judge');
});
