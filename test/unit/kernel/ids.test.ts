import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../../../src/kernel/ids.ts';

const B32 = '0123456789abcdefghjkmnpqrstvwxyz';
/** Base32 (Crockford, lower case) back to a number: exact for the 50-bit time part, a bigint for the random part. */
const decode = (s: string): bigint => [...s].reduce((n, c) => n * 32n + BigInt(B32.indexOf(c)), 0n);

test('an id is the prefix, 10 chars of epoch ms and 16 random chars, all base32', () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 0, 123);
  const id = newId('req', now);
  assert.match(id, /^req_[0-9a-hjkmnp-tv-z]{26}$/);
  assert.equal(decode(id.slice(4, 14)), BigInt(now));
});

test('ids of one millisecond count up by one in their random part; a later millisecond sorts later', () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 1);
  const ids = Array.from({ length: 2000 }, () => newId('tx', now));
  for (let i = 1; i < ids.length; i++) {
    const step = decode(ids[i]!.slice(13)) - decode(ids[i - 1]!.slice(13));
    // +1, or a fresh random start when 80 bits would overflow (practically never).
    assert.ok(step === 1n || ids[i - 1]!.slice(13) === 'z'.repeat(16), `${ids[i - 1]} → ${ids[i]}`);
  }
  assert.deepEqual([...ids].sort(), ids);
  const later = newId('tx', now + 1);
  assert.ok(later > ids.at(-1)!);
  assert.equal(decode(later.slice(3, 13)), BigInt(now + 1));
});

test('the random part uses all 80 bits: its first and last chars vary across milliseconds', () => {
  const firsts = new Set<string>();
  const lasts = new Set<string>();
  for (let i = 0; i < 400; i++) {
    const id = newId('k', 1_800_000_000_000 + i);
    firsts.add(id.at(12)!);
    lasts.add(id.at(-1)!);
  }
  assert.ok(firsts.size > 20 && lasts.size > 20, `${firsts.size} / ${lasts.size}`);
});
