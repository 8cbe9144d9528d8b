// Allowances (cluster/allowances.ts) on a real Redis: a slice is asked for what is used and granted
// only while the balance is abundant; requests that fit are admitted in memory; a refusal elsewhere
// recalls the unused part, which comes back at the next renewal; and our share in Redis always
// equals what this instance counts (held = slice), before and after.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import pino from 'pino';
import { Allowances, type Subjects } from '../../../src/cluster/allowances.ts';
import { script, type RedisLink } from '../../../src/cluster/redis.ts';
import { prefixedRedis } from '../../helpers/redis.ts';
import { ADMIT } from '../../../src/cluster/scripts.ts';
import { Shares } from '../../../src/cluster/shares.ts';
import { RATE_WINDOW_MS } from '../../../src/gateway/limits.ts';
import type { QuotaAsk } from '../../../src/gateway/quotas.ts';
import type { Runtime } from '../../../src/kernel/context.ts';

const URL = process.env.SURETY_TEST_REDIS_URL || '';
const HOLD = 10_000_000n;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('allowances', { skip: URL ? false : 'needs SURETY_TEST_REDIS_URL' }, () => {
  const redis = prefixedRedis('al');
  let link: RedisLink;
  const log = pino({ level: 'silent' });
  before(() => {
    link = redis.link;
  });

  let n = 0;
  const ask = (hold = HOLD): QuotaAsk => ({
    requestId: `r${++n}`,
    keyId: 'k1',
    accountId: 'a1',
    at: Date.now(),
    tokens: 10,
    hold,
    keyRpm: null,
    keyTpm: null,
    accountRpm: null,
    accountTpm: null,
    concurrency: null,
    spend: { limit_day: null, limit_month: null, limit_total: null },
  });

  test('granted while abundant, used in memory, recalled by a refusal elsewhere and given back; Redis counts what we count', async () => {
    const shares = new Shares();
    const a = new Allowances({ log } as unknown as Runtime, link, shares, 'A', { refreshMs: 5000, keptMs: 60_000, stale: () => {}, failed: () => assert.fail('no failure expected') });
    const m = link.key('m', 'a', 'a1');
    await link.redis.hset(m, 'base', String(1000n * HOLD), 'at', String(Date.now()));
    const subjects: Subjects = { mirrors: [{ key: m, limit: 0n }], cc: null, lanes: [] };
    const ours = async () => BigInt((await link.redis.hget(m, `h:A`)) ?? '0');
    try {
      // No slice yet: the first request is not admitted in memory, and one is asked for.
      assert.equal(a.take(ask(), subjects, Date.now()), null);
      await until('a slice is granted', () => (a.slices.get(m)?.total ?? 0n) > 0n);
      const slice = a.slices.get(m)!;
      assert.ok(slice.total >= 16n * HOLD, `a whole slice: ${slice.total}`);
      assert.equal(await ours(), slice.total, 'our share in Redis is the slice');
      // Admitted in memory: nothing changes in Redis.
      const q = ask();
      const t = a.take(q, subjects, Date.now());
      assert.ok(t, 'admitted under the slice');
      assert.equal(a.stats.local, 1);
      assert.equal(await ours(), slice.total);
      // Another instance asks for more than the rest: refused, and the unused slice is recalled.
      const admit = script(ADMIT);
      const rest = 1000n * HOLD - slice.total;
      const r = (await link.run(
        admit,
        [link.key('fence'), link.key('inst', 'B', 'keys'), link.key('wz', 'x'), link.key('wh', 'x'), link.key('wz', 'y'), link.key('wh', 'y'), link.key('cc', 'x'), m],
        ['B', 'rb', 1, RATE_WINDOW_MS, 0, 0, 0, 0, -1, String(rest + HOLD), 5000, 60_000],
      )) as string[];
      assert.deepEqual(r.slice(0, 2), ['recall', 'balance']);
      // At its next renewals the instance gives back all it does not use (the request in flight keeps its hold).
      a.renew(true);
      await until('the unused part is given back', async () => slice.unused === 0n && (await link.redis.hget(m, 'lz')) === '0');
      assert.equal(slice.total, HOLD, 'only the hold in flight is kept');
      assert.equal(await ours(), HOLD);
      assert.equal(a.stats.recalls, 1);
      // Recalled: no slice asked for a while, so the next request goes to ADMIT.
      assert.equal(a.take(ask(), subjects, Date.now()), null);
      // The request ends: its charge is consumed under the slice, then committed out of held.
      a.release(t, q, HOLD, 0, [m]);
      assert.equal(slice.consumed, HOLD);
      assert.equal(a.commitFrom(m, HOLD), HOLD);
      assert.equal(slice.total, 0n);
      assert.equal(shares.mirrors.get(m)?.held ?? 0n, 0n);
    } finally {
      a.close();
    }
  });
});
