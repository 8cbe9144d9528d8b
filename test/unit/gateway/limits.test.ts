// Rate limits (token buckets), concurrency and the UTC spend periods, on a fake clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concurrency, RateLimiter, TokenBucket, spendPeriods } from '../../../src/gateway/limits.ts';

test('a token bucket refills continuously up to its capacity', () => {
  const b = new TokenBucket(60, 0);
  for (let i = 0; i < 60; i++) assert.ok(b.take(1, 0));
  assert.equal(b.take(1, 0), false);
  assert.equal(b.waitMs(1, 0), 1000, 'one token a second at 60/min');
  assert.ok(b.take(1, 1000));
  b.adjust(-1000, 1000);
  assert.ok(b.waitMs(60, 1000) === 0, 'never above capacity');
});

test('RPM refuses the request beyond the limit with the wait; nothing is taken when refused', () => {
  const r = new RateLimiter();
  for (let i = 0; i < 3; i++) assert.equal(r.admit('k', 3, null, 0, 0), 0);
  const wait = r.admit('k', 3, null, 0, 0);
  assert.equal(wait, 20_000, '3/min: a token every 20 s');
  assert.equal(r.admit('k', 3, null, 0, 20_000), 0);
  assert.equal(r.admit('other', 3, null, 0, 0), 0, 'per id');
  assert.equal(r.admit('k', null, null, 1e9, 0), 0, 'no limits: always admitted');
});

test('TPM admits by the estimate and is corrected by the actual usage afterwards', () => {
  const r = new RateLimiter();
  assert.equal(r.admit('k', null, 1000, 600, 0), 0);
  assert.ok(r.admit('k', null, 1000, 600, 0) > 0, '1200 > 1000');
  r.correct('k', -500, 0); // it used 100, not 600
  assert.equal(r.admit('k', null, 1000, 600, 0), 0);
  r.correct('k', 5000, 0); // a heavy request drives the bucket negative: what follows waits
  assert.ok(r.admit('k', null, 1000, 1, 0) > 0);
  const changed = r.admit('k', null, 2000, 1, 0);
  assert.equal(changed, 0, 'a changed limit starts a new bucket');
});

test('concurrency per key', () => {
  const c = new Concurrency();
  assert.ok(c.acquire('k', 2));
  assert.ok(c.acquire('k', 2));
  assert.equal(c.acquire('k', 2), false);
  c.release('k');
  assert.ok(c.acquire('k', 2));
  assert.ok(c.acquire('other', null));
});

test('spend periods are UTC days and months', () => {
  assert.deepEqual(spendPeriods(Date.UTC(2026, 11, 31, 23, 59, 59)), { day: 'd:2026-12-31', month: 'm:2026-12', total: 't' });
  assert.deepEqual(spendPeriods(Date.UTC(2027, 0, 1, 0, 0, 0)), { day: 'd:2027-01-01', month: 'm:2027-01', total: 't' });
  assert.deepEqual(spendPeriods(Date.UTC(2026, 11, 31, 12)), { day: 'd:2026-12-31', month: 'm:2026-12', total: 't' }, 'the cache serves the current day only');
});
