// The rule that bounds what a customer key can do with key limits (accounts/key-limits.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../../src/kernel/errors.ts';
import { NO_LIMITS, checkCustomerChange, limitsForCreate, within, withGiven, type KeyLimits } from '../../../src/accounts/key-limits.ts';

const limits = (l: Partial<KeyLimits>): KeyLimits => ({ ...NO_LIMITS, ...l });

function refused(fn: () => unknown, field: string): void {
  assert.throws(fn, (e: unknown) => e instanceof AppError && e.code === 'FORBIDDEN' && e.details?.field === field && e.message.startsWith(`${field}: `));
}

test('within: numbers, spend limits and expiry no greater; no limit is the widest', () => {
  assert.ok(within('rpm', 10, 10));
  assert.ok(within('rpm', 9, 10));
  assert.ok(!within('rpm', 11, 10));
  assert.ok(!within('rpm', null, 10), 'removing a limit widens it');
  assert.ok(within('rpm', null, null));
  assert.ok(within('rpm', 1_000_000, null));
  assert.ok(within('limit_month', 5n, 5n));
  assert.ok(!within('limit_month', 5n + 1n, 5n));
  assert.ok(within('expires_at', 1000, 2000));
  assert.ok(!within('expires_at', 3000, 2000));
  assert.ok(!within('expires_at', null, 2000));
});

test('within: a model list is a subset; an IP list lies inside the bound\'s blocks', () => {
  assert.ok(within('models', ['a'], ['a', 'b']));
  assert.ok(within('models', [], ['a']));
  assert.ok(!within('models', ['a', 'c'], ['a', 'b']));
  assert.ok(!within('models', null, ['a']));
  assert.ok(within('ips', ['10.1.2.3'], ['10.0.0.0/8']));
  assert.ok(within('ips', ['10.1.0.0/16', '192.168.1.0/24'], ['10.0.0.0/8', '192.168.0.0/16']));
  assert.ok(within('ips', ['10.0.0.0/8'], ['10.0.0.0/8']));
  assert.ok(!within('ips', ['10.0.0.0/7'], ['10.0.0.0/8']), 'a wider block');
  assert.ok(!within('ips', ['11.0.0.1'], ['10.0.0.0/8']));
  assert.ok(!within('ips', ['::ffff:0:0/96'], ['10.0.0.0/8']), 'another family');
  assert.ok(within('ips', ['2001:db8:1::/48'], ['2001:db8::/32']));
  assert.ok(!within('ips', ['2001:db9::1'], ['2001:db8::/32']));
  // An empty IP list allows every address: as wide as none.
  assert.ok(!within('ips', [], ['10.0.0.0/8']));
  assert.ok(within('ips', ['1.2.3.4'], []));
});

test('create: what is not given is inherited from the acting key; what is given stays within it', () => {
  const acting = limits({ models: ['a', 'b'], rpm: 60, limit_month: 100n, expires_at: 5000, ips: ['10.0.0.0/8'] });
  assert.deepEqual(limitsForCreate({}, acting), acting);
  assert.deepEqual(limitsForCreate({ models: ['a'], rpm: 30, tpm: 1000 }, acting), { ...acting, models: ['a'], rpm: 30, tpm: 1000 });
  refused(() => limitsForCreate({ rpm: 61 }, acting), 'rpm');
  refused(() => limitsForCreate({ rpm: null }, acting), 'rpm');
  refused(() => limitsForCreate({ models: ['a', 'c'] }, acting), 'models');
  refused(() => limitsForCreate({ limit_month: 101n }, acting), 'limits.month');
  refused(() => limitsForCreate({ expires_at: 5001 }, acting), 'expires_at');
  refused(() => limitsForCreate({ ips: ['0.0.0.0/0'] }, acting), 'ips');
  // An unlimited acting key may create anything.
  assert.deepEqual(limitsForCreate({ rpm: 5 }, NO_LIMITS), limits({ rpm: 5 }));
});

test('change: tighten always; loosen only within the acting key and the operator\'s limits', () => {
  const op = limits({ models: ['a', 'b'], rpm: 60, limit_day: 10n });
  const own = limits({ models: ['a', 'b'], rpm: 60, limit_day: 10n });
  // The key changing itself: tightening is fine, loosening or removing is not.
  checkCustomerChange(withGiven(own, { rpm: 30, models: ['a'] }), own, own, op);
  refused(() => checkCustomerChange(withGiven(own, { models: null }), own, own, op), 'models');
  refused(() => checkCustomerChange(withGiven(own, { limit_day: null }), own, own, op), 'limits.day');
  refused(() => checkCustomerChange(withGiven(own, { rpm: 61 }), own, own, op), 'rpm');
  // Once tightened, the key cannot loosen itself again (it acts with its tighter limit)…
  const tightened = withGiven(own, { rpm: 30 });
  refused(() => checkCustomerChange(withGiven(tightened, { rpm: 60 }), tightened, tightened, op), 'rpm');
  // …but an unlimited admin key may, up to what the operator set, and not beyond it.
  checkCustomerChange(withGiven(tightened, { rpm: 60 }), tightened, NO_LIMITS, op);
  refused(() => checkCustomerChange(withGiven(tightened, { rpm: 61 }), tightened, NO_LIMITS, op), 'rpm');
  refused(() => checkCustomerChange(withGiven(tightened, { models: null }), tightened, NO_LIMITS, op), 'models');
  // A limit the operator did not set: bounded by the acting key only.
  checkCustomerChange(withGiven(own, { tpm: 5 }), own, NO_LIMITS, op);
  const withTpm = withGiven(own, { tpm: 5 });
  checkCustomerChange(withGiven(withTpm, { tpm: null }), withTpm, NO_LIMITS, op);
  refused(() => checkCustomerChange(withGiven(withTpm, { tpm: 50 }), withTpm, limits({ tpm: 10 }), op), 'tpm');
  // Limits left as they are are never checked (renaming a wide key with a narrow one is fine).
  const wide = limits({ rpm: 1000 });
  checkCustomerChange(wide, wide, limits({ rpm: 1 }), NO_LIMITS);
});
