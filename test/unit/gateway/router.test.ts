// Channel selection and the circuit breaker, on a fake clock and a seeded random source.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LiveChannel, LiveModel } from '../../../src/catalog/index.ts';
import { Router } from '../../../src/gateway/router.ts';

const ch = (id: string, priority = 0, weight = 1): LiveChannel => ({ config: { id, name: id, priority, weight } as LiveChannel['config'], keys: [`k-${id}-1`, `k-${id}-2`], nextKey: 0 });
const model = (...channels: LiveChannel[]): LiveModel => ({ channels } as unknown as LiveModel);
const ids = (cs: LiveChannel[]) => cs.map((c) => c.config.id);

test('highest priority first; within a priority a weighted random order', () => {
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const r = new Router({}, random);
  const m = model(ch('a', 10), ch('b', 0, 1), ch('c', 0, 9));
  let cFirst = 0;
  for (let i = 0; i < 1000; i++) {
    const plan = ids(r.plan(m, 0));
    assert.equal(plan[0], 'a');
    assert.deepEqual([...plan].sort(), ['a', 'b', 'c']);
    if (plan[1] === 'c') cFirst++;
  }
  assert.ok(cFirst > 800 && cFirst < 990, `weight 9 of 10 goes first about 90 % of the time (${cFirst / 10} %)`);
});

test('a circuit opens after 5 failures, lets one probe through after the cool-down, and doubles it when the probe fails', () => {
  const r = new Router({ failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 4000 });
  const m = model(ch('a'));
  for (let i = 0; i < 4; i++) r.record('a', 'upstream_error', 0);
  assert.equal(r.state('a').state, 'closed');
  r.record('a', 'upstream_timeout', 0);
  assert.deepEqual([r.state('a').state, r.state('a').reason], ['open', 'failures']);
  assert.deepEqual(ids(r.plan(m, 999)), [], 'open during the cool-down');
  assert.deepEqual(ids(r.plan(m, 1000)), ['a'], 'one probe');
  assert.deepEqual(ids(r.plan(m, 1001)), [], 'only one');
  r.record('a', 'upstream_error', 1100);
  assert.equal(r.state('a').state, 'open');
  assert.deepEqual(ids(r.plan(m, 2099)), [], 'cool-down doubled to 2 s');
  assert.deepEqual(ids(r.plan(m, 3100)), ['a']);
  r.record('a', 'ok', 3200);
  assert.deepEqual([r.state('a').state, r.state('a').reason], ['closed', null]);
});

test('client-side outcomes say nothing against a channel; a client leaving during a probe lets another probe through', () => {
  const r = new Router({ failureThreshold: 2, cooldownMs: 10 });
  for (const o of ['client_error', 'upstream_moderation', 'client_cancelled'] as const) r.record('a', o, 0);
  assert.equal(r.state('a').failures, 0);
  r.record('a', 'platform_error', 0);
  r.record('a', 'upstream_rate_limited', 0);
  assert.equal(r.state('a').state, 'open');
  const m = model(ch('a'));
  assert.equal(r.plan(m, 20).length, 1);
  r.record('a', 'client_cancelled', 21);
  assert.equal(r.plan(m, 22).length, 1, 'the probe told nothing: another may go');
});

test('a channel out of credit is taken out at once, for the longest cool-down, and says why', () => {
  const r = new Router({ cooldownMs: 1000, maxCooldownMs: 300_000 });
  const m = model(ch('a'), ch('b'));
  r.record('a', 'platform_error', 0, true);
  assert.deepEqual([r.state('a').state, r.state('a').reason], ['open', 'out_of_credit']);
  assert.deepEqual(ids(r.plan(m, 299_999)), ['b']);
  assert.ok(ids(r.plan(m, 300_000)).includes('a'), 'probed after the cool-down');
});

test('keys of a channel rotate', () => {
  const r = new Router();
  const c = ch('a');
  assert.deepEqual([r.key(c), r.key(c), r.key(c)], ['k-a-1', 'k-a-2', 'k-a-1']);
});
