import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billedNothingDelivered } from '../../../../src/detection/rules/billed-nothing-delivered.ts';
import { ctx, imageRow, row } from './fixtures.ts';

test('billed_nothing_delivered: an image request charged without an image, a billed moderation refusal included', () => {
  const none = imageRow({ delivered: { images: 0, text_chars: 0 } });
  const refused = imageRow({ outcome: 'upstream_moderation', delivered: { images: 0, text_chars: 12 }, amount: 10_000_000n });
  const found = billedNothingDelivered.check([imageRow(), none, refused, imageRow({ delivered: { images: 0 }, amount: 0n })], ctx());
  assert.deepEqual(found.map((f) => f.subject), [none.id, refused.id]);
  assert.equal(found[0]!.reason, 'Charged $0.09 although no image was delivered.');
  assert.equal(found[1]!.reason, 'Charged $0.01 although the upstream refused on content policy (the model bills refusals) and no image was delivered.');
  assert.deepEqual(found[1]!.stakes, { [refused.id]: 10_000_000n });
});

test('billed_nothing_delivered: empty text with 0 output tokens; text or tokens delivered is not; embeddings are not judged', () => {
  const empty = row({ delivered: { images: 0, text_chars: 0 }, usage_billable: { input_tokens: 10, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0, images: 0, estimated: false } });
  const toolCall = row({ delivered: { images: 0, text_chars: 0 } });
  const emb = row({ endpoint: 'embeddings', delivered: { images: 0, text_chars: 0 }, usage_billable: null });
  const found = billedNothingDelivered.check([empty, toolCall, emb], ctx());
  assert.deepEqual(found.map((f) => f.subject), [empty.id]);
  assert.equal(found[0]!.reason, 'Charged $0.005 although the answer was empty with 0 output tokens.');
});
