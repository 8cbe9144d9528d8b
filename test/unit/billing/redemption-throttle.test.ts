// The sliding window of failed redemptions (billing/redemption-throttle.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedemptionThrottle } from '../../../src/billing/redemption-throttle.ts';
import { AppError } from '../../../src/kernel/errors.ts';
import { MemoryFailureLog } from '../../../src/kernel/failure-log.ts';

async function retryAfter(fn: () => Promise<void>): Promise<number | null> {
  try {
    await fn();
    return null;
  } catch (e) {
    assert.ok(e instanceof AppError && e.code === 'RATE_LIMITED', String(e));
    return e.details!.retry_after as number;
  }
}

test('the limit-th failure in the window refuses the next attempt until the oldest leaves it', async () => {
  const th = new RedemptionThrottle({ maxFailures: 3, windowMs: 60_000 });
  const s = RedemptionThrottle.subjects('acct_1', '10.0.0.1');
  assert.deepEqual(s, ['redeem:account:acct_1', 'redeem:ip:10.0.0.1']);
  await th.failed(s, 0);
  await th.failed(s, 10_000);
  assert.equal(await retryAfter(() => th.check(s, 10_000)), null);
  await th.failed(s, 20_000);
  assert.equal(await retryAfter(() => th.check(s, 20_000)), 40);
  assert.equal(await retryAfter(() => th.check(s, 59_999)), 1);
  // The failure at 0 leaves the window at 60 s: two left, one more attempt allowed.
  assert.equal(await retryAfter(() => th.check(s, 60_000)), null);
  await th.failed(s, 60_000);
  assert.equal(await retryAfter(() => th.check(s, 60_000)), 10, 'now the failure at 10 s is the one to wait for');
  // Each subject counts on its own: the same address for another account is limited, another address is not.
  assert.equal(await retryAfter(() => th.check(RedemptionThrottle.subjects('acct_2', '10.0.0.1'), 60_000)), 10);
  assert.equal(await retryAfter(() => th.check(RedemptionThrottle.subjects('acct_2', '10.0.0.2'), 60_000)), null);
  assert.equal(await retryAfter(() => th.check(['redeem:account:acct_1'], 60_000)), 10);
});

test('without a client address only the account counts; subjects with nothing left are forgotten', async () => {
  const log = new MemoryFailureLog();
  const th = new RedemptionThrottle({ maxFailures: 1, windowMs: 1000 }, log);
  assert.deepEqual(RedemptionThrottle.subjects('acct_1', null), ['redeem:account:acct_1']);
  for (let i = 0; i < 10_050; i++) await th.failed([`ip:${i}`], 0);
  assert.equal(await retryAfter(() => th.check(['ip:5'], 999)), 1);
  await th.failed(['ip:new'], 5000);
  const size = (log as unknown as { times: Map<string, number[]> }).times.size;
  assert.ok(size < 10, `old subjects swept (${size} left)`);
  assert.equal(await retryAfter(() => th.check(['ip:5'], 5000)), null);
});
