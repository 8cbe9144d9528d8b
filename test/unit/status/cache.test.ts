// The page cache: one read per period however many visitors, the previous snapshot while a new
// one loads or when a read fails (never an unhandled rejection), invalidation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageCache } from '../../../src/status/cache.ts';
import type { PageSnapshot } from '../../../src/status/snapshot.ts';

test('one read per period; a failed read keeps the previous snapshot', async () => {
  let now = 0;
  let reads = 0;
  let fail = false;
  const errors: unknown[] = [];
  const cache = new PageCache(async () => {
    reads++;
    if (fail) throw new Error('storage away');
    return { at: reads } as unknown as PageSnapshot;
  }, 5_000, () => now);
  cache.onError = (e) => errors.push(e);
  const first = await Promise.all(Array.from({ length: 50 }, () => cache.snapshot()));
  assert.equal(reads, 1, '50 visitors at once: one read');
  assert.ok(first.every((s) => s === first[0]));
  const doc1 = await cache.get('k', 'text/html', (s) => `page ${s.at}`);
  assert.equal(doc1.body.toString(), 'page 1');
  assert.equal(await cache.get('k', 'text/html', () => 'never rendered twice'), doc1);
  now = 6_000;
  fail = true;
  assert.equal(((await cache.snapshot()) as unknown as { at: number }).at, 1, 'stale while refreshing');
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(errors.length, 1);
  assert.equal(((await cache.snapshot()) as unknown as { at: number }).at, 1, 'still the previous one after the failure');
  fail = false;
  await new Promise((r) => setTimeout(r, 10));
  cache.invalidate();
  assert.equal(((await cache.snapshot()) as unknown as { at: number }).at, reads);
  assert.equal((await cache.get('k', 'text/html', (s) => `page ${s.at}`)).body.toString(), `page ${reads}`);
});
