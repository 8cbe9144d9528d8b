// The webhook signature (docs/webhooks.md), property-based: for any secret, body and time, the
// signature the outbox sends verifies; any change to the body, another secret, a time outside the
// tolerance or a mangled header does not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SIGNATURE_TOLERANCE_SECONDS, signPayload, verifySignature } from '../../../src/notify/outbox.ts';

const secret = fc.string({ minLength: 1, maxLength: 64 }).map((s) => `whsec_${s}`);
const body = fc.string({ unit: 'binary', maxLength: 2000 });
const t = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 });

test('a signed delivery verifies; a changed byte, another secret, a stale time or a mangled header never does', () => {
  fc.assert(
    fc.property(secret, secret, body, t, fc.nat(), fc.integer({ min: -3 * SIGNATURE_TOLERANCE_SECONDS, max: 3 * SIGNATURE_TOLERANCE_SECONDS }), (s1, s2, b, at, pos, skew) => {
      const h = signPayload(s1, b, at);
      assert.equal(verifySignature(s1, h, b, at), true);
      assert.equal(verifySignature(s1, h, b, at + skew), Math.abs(skew) <= SIGNATURE_TOLERANCE_SECONDS);
      if (s2 !== s1) assert.equal(verifySignature(s2, h, b, at), false);
      if (b.length > 0) {
        const i = pos % b.length;
        const changed = b.slice(0, i) + String.fromCharCode((b.charCodeAt(i) + 1) % 65536) + b.slice(i + 1);
        if (Buffer.from(changed).compare(Buffer.from(b)) !== 0) assert.equal(verifySignature(s1, h, changed, at), false);
      }
      assert.equal(verifySignature(s1, h.replace(/v1=[0-9a-f]/, 'v1=g'), b, at), false);
      assert.equal(verifySignature(s1, '', b, at), false);
    }),
    { numRuns: 300 },
  );
});
