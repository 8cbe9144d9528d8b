// Rate limits (sliding windows of one minute), concurrency and the UTC spend periods, on a fake clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concurrency, RateLimiter, SlidingWindow, spendPeriods } from '../../../src/gateway/limits.ts';

test('RPM: at most n requests in any 60 s, however they are spread; the wait is until the oldest leaves', () => {
  const w = new SlidingWindow();
  for (let i = 0; i < 60; i++) {
    assert.equal(w.waitMs(60, null, 0, i * 100), 0);
    w.add(0, i * 100);
  }
  // A token bucket would have refilled ~6 by now: a window never lets a 61st in within the minute.
  assert.equal(w.waitMs(60, null, 0, 6000), 54_000, 'the first request (t=0) leaves the window at t=60 s');
  assert.equal(w.waitMs(60, null, 0, 59_999), 1);
  assert.equal(w.waitMs(60, null, 0, 60_000), 0, 'then one place frees');
  w.add(0, 60_000);
  assert.equal(w.waitMs(60, null, 0, 60_000), 100, 'the next one at t=60.1 s');
});

test('TPM: the estimate enters, the real usage replaces it; a request may not start once the window is full', () => {
  const w = new SlidingWindow();
  assert.equal(w.waitMs(null, 1000, 600, 0), 0);
  const a = w.add(600, 0);
  assert.equal(w.waitMs(null, 1000, 600, 10), 59_990, '1200 > 1000: wait for a to leave');
  w.correct(a, -500); // it used 100, not 600
  assert.equal(w.waitMs(null, 1000, 600, 10), 0);
  const b = w.add(600, 10);
  w.correct(b, 5000); // a heavy answer fills the window: what follows waits for it to leave
  assert.equal(w.waitMs(null, 1000, 1, 20), 59_990);
  assert.equal(w.waitMs(null, 1000, 1, 60_010), 0);
  assert.equal(w.waitMs(null, 100, 5000, 70_000), 0, 'an estimate above the limit starts on an empty window');
  w.correct(a, 10_000); // a left the window: nothing changes
  assert.equal(w.waitMs(null, 100, 100, 70_000), 0);
});

test('limiter: per subject, nothing taken when refused, no limits always admitted', () => {
  const r = new RateLimiter();
  for (let i = 0; i < 3; i++) {
    assert.equal(r.waitMs('k', 3, null, 0, 0), 0);
    r.add('k', 0, 0);
  }
  assert.equal(r.waitMs('k', 3, null, 0, 0), 60_000);
  assert.equal(r.waitMs('k', 3, null, 0, 60_000), 0);
  assert.equal(r.waitMs('other', 3, null, 0, 0), 0, 'per id');
  assert.equal(r.waitMs('k', null, null, 1e9, 0), 0, 'no limits: always admitted');
  assert.equal(r.waitMs('k', 4, null, 0, 0), 0, 'a raised limit applies to the same window');
  const seq = r.add('x', 10, 0);
  r.correct('x', seq, 90);
  assert.equal(r.waitMs('x', null, 100, 1, 0), 60_000);
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

test('a long-lived window compacts and still corrects the right request', () => {
  const w = new SlidingWindow();
  const seqs: number[] = [];
  for (let i = 0; i < 5000; i++) seqs.push(w.add(1, i * 20)); // 100 s of 50 req/s
  assert.equal(w.waitMs(null, 3000, 1, 100_000), 0, '2999 tokens in the last minute (after t = 40 s)');
  assert.equal(w.size, 2999);
  w.correct(seqs[4999]!, 1);
  assert.ok(w.waitMs(null, 3000, 1, 100_000) > 0, 'the newest request now weighs 2');
  w.correct(seqs[0]!, 1000);
  assert.equal(w.waitMs(null, 3001, 1, 100_000), 0, 'a request gone from the window is not corrected');
});
