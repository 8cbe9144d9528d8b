// One write path per entity in accounts/: a key is revoked only by the key service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filesMatching } from '../../helpers/source.ts';

test('only the key service revokes keys', () => {
  assert.deepEqual(filesMatching(/UPDATE api_keys SET[^'"`]*status\s*=/), ['src/accounts/keys.ts']);
  assert.deepEqual(filesMatching(/'key\.revoke'/), ['src/accounts/keys.ts']);
});
