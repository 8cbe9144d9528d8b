// The load shedder's two rules on a real event loop: too many requests in flight, and a loop that
// runs late while enough requests are in flight to be the cause. (Through HTTP: integration/overload.test.ts.)
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadShedder } from '../../../src/gateway/overload.ts';

/** A shedder that stops with the test. */
function shedder(t: TestContext, maxInFlight: number, maxLagMs: number): LoadShedder {
  const s = new LoadShedder({ maxInFlight, maxLagMs });
  t.after(() => s.close());
  return s;
}

/** Keeps the event loop busy for `ms`, in slices that let its timers run late. */
async function hog(ms: number, slice = 120): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const until = Date.now() + slice;
    while (Date.now() < until);
    await new Promise((r) => setImmediate(r));
  }
}

test('in flight: refused at the limit, with a second to wait; counted', (t) => {
  const s = shedder(t, 10, 0);
  assert.equal(s.refuse(9), null);
  assert.equal(s.refuse(10), 1);
  assert.equal(s.refuse(11), 1);
  assert.equal(s.shed, 2);
});

test('a late loop sheds only with enough in flight, and stops once the loop is on time again', async (t) => {
  const s = shedder(t, 10_000, 50);
  await sleep(300);
  assert.ok(s.lagMs < 50, `an idle loop is on time: ${s.lagMs} ms`);
  assert.equal(s.refuse(500), null);
  await hog(700);
  assert.ok(s.lagMs > 50, `a loop blocked 120 ms at a time runs late: ${s.lagMs} ms`);
  assert.equal(s.refuse(500), 1, 'late, with many in flight: shed');
  assert.equal(s.refuse(10), null, 'late, but a few requests are not the cause (a GC, an export)');
  await sleep(600);
  assert.ok(s.lagMs < 50, `on time again: ${s.lagMs} ms`);
  assert.equal(s.refuse(500), null);
});

test('lag shedding off (0): a late loop sheds nothing', async (t) => {
  const s = shedder(t, 10_000, 0);
  await hog(400);
  assert.equal(s.lagMs, 0);
  assert.equal(s.refuse(5_000), null);
});
