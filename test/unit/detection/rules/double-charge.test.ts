import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doubleCharge } from '../../../../src/detection/rules/double-charge.ts';
import { ctx, row } from './fixtures.ts';

test('double_charge: the same client reference charged twice; each extra copy is its own finding', () => {
  const a = row({ client_ref: 'retry-1' });
  const b = row({ client_ref: 'retry-1' });
  const c = row({ client_ref: 'retry-1' });
  const other = row({ client_ref: 'retry-1', account_id: 'acct_other' });
  const free = row({ client_ref: 'retry-2', amount: 0n });
  const found = doubleCharge.check([c, a, b, other, free, row({ client_ref: 'retry-2' })], ctx());
  assert.deepEqual(found.map((f) => f.subject).sort(), [b.id, c.id], 'the first charge stands; another account\'s reference is its own; an uncharged retry is no double charge');
  const fb = found.find((f) => f.subject === b.id)!;
  assert.deepEqual(fb.request_ids, [b.id, a.id]);
  assert.deepEqual(fb.stakes, { [b.id]: 5_000_000n });
  assert.equal(fb.reason, `Charged $0.005 a second time: request ${b.id} has the same client reference "retry-1" as request ${a.id}, already charged $0.005.`);
  assert.equal(fb.evidence.matched_by, 'client_ref');
});

test('double_charge: a row stored twice (same key, model, amount and times) without a client reference', () => {
  const a = row();
  const copy = { ...a, id: `${a.id}x` };
  const sameStart = row({ started_at: a.started_at, ended_at: a.ended_at + 1 });
  const found = doubleCharge.check([a, copy, sameStart], ctx());
  assert.deepEqual(found.map((f) => f.subject), [copy.id]);
  assert.equal(found[0]!.evidence.matched_by, 'identical_row');
  assert.equal(found[0]!.evidence.original_request_id, a.id);
});

test('double_charge: two requests of a busy key in the same milliseconds at the same price are not one stored twice', () => {
  // Identical prompts at c=64 start, answer and end in the same milliseconds, at the same price:
  // only their upstream attempts (timed to the microsecond) tell them apart.
  const a = row();
  const twin = row({ started_at: a.started_at, first_byte_at: a.first_byte_at, ended_at: a.ended_at, attempts: '[{"channel":"ch_a","status":200,"outcome":"ok","ms":412.346}]' });
  const copy = { ...a, id: `${a.id}x` };
  const found = doubleCharge.check([a, twin, copy], ctx());
  assert.deepEqual(found.map((f) => f.subject), [copy.id], 'the copy is found, the twin is not');
  const slower = row({ started_at: a.started_at, first_byte_at: a.first_byte_at, ended_at: a.ended_at, duration_ms: a.duration_ms + 1 });
  assert.deepEqual(doubleCharge.check([a, slower], ctx()), [], 'nor a request of another duration');
});
