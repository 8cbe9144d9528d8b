import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billedAfterTimeout } from '../../../../src/detection/rules/billed-after-timeout.ts';
import { ctx, imageRow, row } from './fixtures.ts';

test("billed_after_timeout: an image charged after the model's 300 s threshold; chat has none", () => {
  const slow = imageRow({ duration_ms: 320_000 });
  const edge = imageRow({ duration_ms: 300_000 });
  const found = billedAfterTimeout.check([slow, edge, imageRow({ duration_ms: 320_000, amount: 0n }), row({ duration_ms: 900_000 })], ctx());
  assert.deepEqual(found.map((f) => f.subject), [slow.id], 'exactly at the threshold is not past it; uncharged and chat rows are not findings');
  assert.deepEqual(found[0]!.stakes, { [slow.id]: 90_000_000n });
  assert.equal(found[0]!.reason, 'Charged $0.09 for a request that took 320 s, longer than the abnormal-timeout threshold of 300 s for image-model.');
  assert.equal(found[0]!.evidence.threshold_ms, 300_000);
});

test('billed_after_timeout: a per-model threshold (time-scaled tests use milliseconds)', () => {
  const c = ctx({ model: () => ({ kind: 'images', max_output_tokens: null, abnormal_timeout_ms: 300 }) });
  const found = billedAfterTimeout.check([imageRow({ duration_ms: 320 }), imageRow({ duration_ms: 299 })], c);
  assert.equal(found.length, 1);
  assert.match(found[0]!.reason, /took 0\.3 s, longer than the abnormal-timeout threshold of 0\.3 s/);
});
