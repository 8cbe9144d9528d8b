// ClusterQuotas on a real Redis: a request's end is held back a moment to travel with the next
// script call (one write to Redis instead of two at concurrency 1), and every other call — an
// admission, a writer's commit, a sync — sends the waiting ends first, so Redis sees them in order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ClusterQuotas } from '../../../src/cluster/quotas.ts';
import { RedisLink } from '../../../src/cluster/redis.ts';
import type { QuotaAsk } from '../../../src/gateway/quotas.ts';
import type { Runtime } from '../../../src/kernel/context.ts';

const URL = process.env.SURETY_TEST_REDIS_URL || '';

describe('shared quotas: the ends of requests', { skip: URL ? false : 'needs SURETY_TEST_REDIS_URL' }, () => {
  let link: RedisLink;
  let q: ClusterQuotas;
  let p = '';
  before(async () => {
    p = `q${randomBytes(4).toString('hex')}:`;
    const log = pino({ level: 'silent' });
    link = new RedisLink(URL, p, log);
    await link.connect();
    // Every mirror these tests touch has its base set in Redis first, so storage is never asked.
    q = new ClusterQuotas({ log } as unknown as Runtime, link, 'i1');
  });
  after(async () => {
    q.sendEnds();
    const keys = await link.redis.keys(`${p}*`);
    if (keys.length) await link.redis.del(...keys);
    await link.close();
  });

  let n = 0;
  const ask = (account: string, hold: bigint): QuotaAsk => ({
    requestId: `r${++n}`, keyId: 'k1', accountId: account, at: Date.now(), tokens: 10, hold,
    keyRpm: 1000, keyTpm: null, accountRpm: null, accountTpm: null, concurrency: 5, spend: { limit_day: null, limit_month: null, limit_total: null },
  });
  const mirror = async (account: string, base: bigint) => {
    const m = q.mirrors.account(account);
    await link.redis.hset(m, 'base', String(base), 'at', String(Date.now()));
    return m;
  };
  const fields = (m: string) => link.redis.hmget(m, 'base', 'held', 'unfl');

  test('an end waits for the next admission and reaches Redis before it', async () => {
    const m = await mirror('a1', 1000n);
    const a = ask('a1', 300n);
    assert.equal(await q.admit(a), null);
    q.release(a, 120n, 0, Date.now());
    // Not sent yet: Redis still holds the hold (read on another connection of our own).
    assert.deepEqual(await fields(m), ['1000', '300', null]);
    // The next admission takes it along: 1000 − 120 (unflushed) leaves room for 880, not 580.
    const b = ask('a1', 880n);
    assert.equal(await q.admit(b), null);
    assert.deepEqual(await fields(m), ['1000', '880', '120']);
    q.release(b, 0n, 0, Date.now());
    assert.equal(await link.redis.hget(q.mirrors.account('a1'), 'held'), '880');
    // Alone, an end goes after its moment (2 ms).
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(await fields(m), ['1000', '0', '120']);
    assert.equal(await link.redis.hget(link.key('cc', 'k1'), 'n'), '0');
  });

  test("a writer's commit sends the waiting ends first: the charge leaves unflushed for the base", async () => {
    const m = await mirror('a2', 1000n);
    const a = ask('a2', 300n);
    assert.equal(await q.admit(a), null);
    q.release(a, 250n, 0, Date.now());
    await q.committing([{ accountId: 'a2', keyId: null, amount: 250n, at: Date.now() }]);
    assert.deepEqual(await fields(m), ['750', '0', '0']);
  });
});
