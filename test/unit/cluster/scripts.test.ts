// The Redis scripts of shared quotas (cluster/scripts.ts) on a real Redis, each test under a key
// prefix of its own: the all-or-nothing admission, the exact arithmetic of big amounts, commits
// moving charges into the base, shares written back idempotently, and a reaped instance never
// released twice.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RATE_WINDOW_MS } from '../../../src/gateway/limits.ts';
import { script, type RedisLink } from '../../../src/cluster/redis.ts';
import { prefixedRedis } from '../../helpers/redis.ts';
import { ADMIT, COMMIT, REAP, RELEASE, RENEW, SYNC } from '../../../src/cluster/scripts.ts';

const URL = process.env.SURETY_TEST_REDIS_URL || '';
const S = { admit: script(ADMIT), release: script(RELEASE), commit: script(COMMIT), sync: script(SYNC), reap: script(REAP), renew: script(RENEW) };

describe('shared quota scripts', { skip: URL ? false : 'needs SURETY_TEST_REDIS_URL' }, () => {
  const redis = prefixedRedis('u');
  let link: RedisLink;
  before(() => {
    link = redis.link;
  });

  let n = 0;
  /** One admission of `hold` on account mirror `m` (and spend mirrors with their limits) by instance `inst`. */
  const admit = (inst: string, m: string, hold: bigint, opts: { spend?: Array<[string, bigint]>; rpm?: number; cc?: number } = {}) =>
    link.run(
      S.admit,
      [link.key('fence'), link.key('inst', inst, 'keys'), link.key('wz', m), link.key('wh', m), link.key('wz', 'a'), link.key('wh', 'a'), link.key('cc', m), m, ...(opts.spend ?? []).map(([k]) => k)],
      [inst, `r${++n}`, 10, RATE_WINDOW_MS, opts.rpm ?? 0, 0, 0, 0, opts.cc ?? -1, String(hold), 5000, 60_000, ...(opts.spend ?? []).map(([, l]) => String(l))],
    ) as Promise<Array<string | number>>;
  const field = async (k: string, f: string) => link.redis.hget(k, f);

  test('an admission takes everything or nothing; a missing base asks to be loaded', async () => {
    const m = link.key('m', 'a', 'acct1');
    const sp = link.key('m', 'k', 'key1', 'd:2026-01-01');
    assert.deepEqual(await admit('i1', m, 5n, { spend: [[sp, 100n]] }), ['load', m, sp]);
    await link.redis.hset(m, 'base', '100', 'at', String(Date.now()));
    await link.redis.hset(sp, 'base', '-90', 'at', String(Date.now()));
    // The key's day has 10 left of 100: 11 is refused, and nothing is taken from the account.
    assert.deepEqual(await admit('i1', m, 11n, { spend: [[sp, 100n]] }), ['key_limit', 1]);
    assert.equal(await field(m, 'held'), null);
    assert.deepEqual(await admit('i1', m, 10n, { spend: [[sp, 100n]] }), ['ok']);
    assert.deepEqual([await field(m, 'held'), await field(m, 'h:i1'), await field(sp, 'held')], ['10', '10', '10']);
    assert.deepEqual(await admit('i2', m, 91n), ['balance', '90']);
    assert.deepEqual(await admit('i2', m, 90n), ['ok']);
    assert.equal(await field(m, 'held'), '100');
    assert.ok(await link.redis.sismember(link.key('inst', 'i1', 'keys'), sp));
  });

  test('amounts past 2^53 add exactly; the comparison keeps a margin instead of rounding up', async () => {
    const m = link.key('m', 'a', 'rich');
    const base = 2n ** 61n - 1n; // the largest customer book
    await link.redis.hset(m, 'base', String(base), 'at', String(Date.now()));
    const hold = 2n ** 60n + 12_345n;
    assert.deepEqual(await admit('i1', m, hold), ['ok']);
    assert.equal(BigInt((await field(m, 'held'))!), hold, 'HINCRBY is exact where doubles are not');
    // What is left is base − hold exactly; asking for all of it is refused by the margin, a little less is not.
    const left = base - hold;
    assert.equal((await admit('i1', m, left))[0], 'balance');
    assert.deepEqual(await admit('i1', m, left - 10_000n), ['ok']);
  });

  test('release gives the hold back and counts the charge; commit moves it into the base', async () => {
    const m = link.key('m', 'a', 'acct2');
    await link.redis.hset(m, 'base', '1000', 'at', String(Date.now()));
    assert.deepEqual(await admit('i1', m, 300n), ['ok']);
    await link.run(S.release, [link.key('wz', m), link.key('wh', m), link.key('wz', 'a'), link.key('wh', 'a'), link.key('cc', m), m], ['i1', 'x', 0, '0', '300', '120']);
    assert.deepEqual([await field(m, 'held'), await field(m, 'unfl'), await field(m, 'u:i1')], ['0', '120', '120']);
    await link.run(S.commit, [m], ['i1', '120', '0', '120']);
    assert.deepEqual([await field(m, 'base'), await field(m, 'unfl'), await field(m, 'u:i1')], ['880', '0', null]);
  });

  test('an instance writes its shares back idempotently; a reaped instance is never released twice', async () => {
    const m = link.key('m', 'a', 'acct3');
    const keys = link.key('inst', 'dead', 'keys');
    await link.redis.hset(m, 'base', '1000', 'at', String(Date.now()));
    assert.deepEqual(await admit('live', m, 100n), ['ok']);
    assert.deepEqual(await admit('dead', m, 200n, { cc: 5 }), ['ok']);
    // A sync twice with the same figures changes nothing the second time.
    for (let i = 0; i < 2; i++) await link.run(S.sync, [keys, m], ['dead', 'm', '0', '200', '50', '0']);
    assert.deepEqual([await field(m, 'held'), await field(m, 'unfl'), await field(m, 'h:dead')], ['300', '50', '200']);
    // Alive: nothing happens. Gone: its shares leave every hash, and the base must be reloaded.
    await link.redis.set(link.key('inst', 'dead'), '1', 'PX', 60_000);
    assert.equal(await link.run(S.reap, [link.key('insts'), link.key('inst', 'dead'), keys], ['dead']), 0);
    await link.redis.del(link.key('inst', 'dead'));
    assert.ok(Number(await link.run(S.reap, [link.key('insts'), link.key('inst', 'dead'), keys], ['dead'])) > 0);
    assert.deepEqual([await field(m, 'held'), await field(m, 'unfl'), await field(m, 'base')], ['100', '0', null]);
    assert.equal(await field(link.key('cc', m), 'n'), '0');
    // The dead instance was only paused: its late release must not take the live one's hold.
    await link.run(S.release, [link.key('wz', m), link.key('wh', m), link.key('wz', 'a'), link.key('wh', 'a'), link.key('cc', m), m], ['dead', 'y', 0, '1', '200', '0']);
    assert.deepEqual([await field(m, 'held'), await field(link.key('cc', m), 'n')], ['100', '0']);
  });

  test('a fence refuses every admission until it runs out', async () => {
    const m = link.key('m', 'a', 'acct4');
    await link.redis.hset(m, 'base', '1000', 'at', String(Date.now()));
    await link.redis.set(link.key('fence'), 'x', 'PX', 300);
    const r = await admit('i1', m, 1n);
    assert.equal(r[0], 'fenced');
    assert.ok(Number(r[1]) > 0 && Number(r[1]) <= 300);
    await new Promise((res) => setTimeout(res, 350));
    assert.deepEqual(await admit('i1', m, 1n), ['ok']);
  });

  test('RPM in Redis: a sliding minute, refused with the wait until the oldest leaves', async () => {
    const m = link.key('m', 'a', 'acct5');
    await link.redis.hset(m, 'base', '1000', 'at', String(Date.now()));
    for (let i = 0; i < 3; i++) assert.deepEqual(await admit('i1', m, 1n, { rpm: 3 }), ['ok']);
    const r = await admit('i1', m, 1n, { rpm: 3 });
    assert.equal(r[0], 'rate');
    assert.ok(Number(r[2]) > 59_000 && Number(r[2]) <= 60_000, String(r[2]));
  });

  /** One RENEW run by `inst` with abundance factor `k`: ops as [kind, keys, args]. */
  const renew = (inst: string, k: number, ops: Array<[string, string[], Array<string | number>]>) =>
    link.run(
      S.renew,
      [link.key('fence'), link.key('inst', inst, 'keys'), ...ops.flatMap(([, keys]) => keys)],
      [inst, k, 5000, 60_000, RATE_WINDOW_MS, 1000, ...ops.flatMap(([kind, , args]) => [kind, ...args])],
    ) as Promise<string[]>;
  /** A money slice: give back `ret`, keep `kept` unused, want `want` (at least `least`). */
  const slice = (m: string, ret: bigint, kept: bigint, want: bigint, least: bigint, limit = 0n): [string, string[], string[]] => ['m', [m], [String(ret), String(kept), String(want), String(least), String(limit)]];

  test('allowances: a slice is granted only while the balance is abundant, and counts as held for everyone', async () => {
    const m = link.key('m', 'a', 'acct6');
    await link.redis.hset(m, 'base', '16000', 'at', String(Date.now()));
    // 16,000 free at K=16: at most 1,000 per grant.
    assert.deepEqual(await renew('i1', 16, [slice(m, 0n, 0n, 5000n, 100n)]), ['1000', '']);
    assert.deepEqual([await field(m, 'held'), await field(m, 'h:i1'), await field(m, 'lz'), await field(m, 'l:i1')], ['1000', '1000', '1000', '1000']);
    // Another instance sees it as taken: 15,000 left, 15,001 refused (and recalled: a slice sits unused).
    const r = await admit('i2', m, 15_001n);
    assert.deepEqual(r, ['recall', 'balance', '15000']);
    assert.ok(Number(await field(m, 'rc')) > 0);
    // Below abundance nothing is granted; the recalled holder is told to give back, and does.
    assert.deepEqual(await renew('i1', 16, [slice(m, 0n, 1000n, 1000n, 100n)]), ['0', 'r']);
    assert.deepEqual(await renew('i1', 16, [slice(m, 1000n, 0n, 0n, 100n)]), ['0', 'r']);
    assert.deepEqual([await field(m, 'held'), await field(m, 'h:i1'), await field(m, 'lz')], ['0', null, '0']);
    assert.deepEqual(await admit('i2', m, 15_001n), ['ok']);
    // A small balance never gets a slice: 999 free, a grant worth having is at least 100.
    const small = link.key('m', 'a', 'acct7');
    await link.redis.hset(small, 'base', '1599', 'at', String(Date.now()));
    assert.deepEqual(await renew('i1', 16, [slice(small, 0n, 0n, 1000n, 100n)]), ['0', '']);
    assert.equal(await field(small, 'held'), null);
  });

  test('allowances: consumption commits out of held; a dead instance\'s slice is reaped with its holds', async () => {
    const m = link.key('m', 'a', 'acct8');
    await link.redis.hset(m, 'base', '100000', 'at', String(Date.now()));
    assert.deepEqual(await renew('gone', 16, [slice(m, 0n, 0n, 500n, 10n)]), ['500', '']);
    // 120 charged under the slice commits: base and held both lose it.
    await link.run(S.commit, [m], ['gone', '120', '120', '0']);
    assert.deepEqual([await field(m, 'base'), await field(m, 'held'), await field(m, 'h:gone')], ['99880', '380', '380']);
    await link.redis.del(link.key('inst', 'gone'));
    assert.ok(Number(await link.run(S.reap, [link.key('insts'), link.key('inst', 'gone'), link.key('inst', 'gone', 'keys')], ['gone'])) > 0);
    assert.deepEqual([await field(m, 'held'), await field(m, 'lz'), await field(m, 'l:gone')], ['0', '0', null]);
  });

  test('allowances: a concurrency slice is taken from the counter while slots are abundant', async () => {
    const cc = link.key('cc', 'k9');
    assert.deepEqual(await renew('i1', 4, [['c', [cc], ['0', '0', '8', '2', '40']]]), ['8', '']);
    assert.deepEqual([await field(cc, 'n'), await field(cc, 'c:i1')], ['8', '8']);
    // 32 free at K=4: at most 8; with 12 free, 3; a limit of 5 grants none worth having (1 < 2).
    assert.deepEqual(await renew('i2', 4, [['c', [cc], ['0', '0', '8', '2', '20']]]), ['3', '']);
    assert.deepEqual(await renew('i3', 4, [['c', [cc], ['0', '0', '8', '2', '15']]]), ['0', '']);
  });

  test('allowances: a rate lease is one entry counted as its requests, scored at its end; finalised to what it used', async () => {
    const m = link.key('m', 'a', 'acct10');
    await link.redis.hset(m, 'base', '1000', 'at', String(Date.now()));
    const [z, h] = [link.key('wz', m), link.key('wh', m)];
    const lease = (member: string, slots: number, fin: Array<[string, number, number]> = []) =>
      renew('i1', 2, [['w', [z, h], [10, 0, member, slots, 0, fin.length, ...fin.flat(), 0]]]);
    // rpm 10 at K=2: 4 requests leased (10 free >= 8); then only 6 free, so 4 more are not.
    const [g, end] = await lease('L:i1:1', 4);
    assert.equal(g, '1');
    assert.ok(Number(end) > Date.now() + 500, 'scored at the end of the lease');
    assert.deepEqual(await lease('L:i1:2', 4), ['0', '0']);
    for (let i = 0; i < 6; i++) assert.deepEqual(await admit('i2', m, 1n, { rpm: 10 }), ['ok']);
    assert.equal((await admit('i2', m, 1n, { rpm: 10 }))[0], 'rate', 'the lease counts as 4 requests');
    // Finalised at 1 used: 3 requests come back to the window.
    await lease('', 0, [['L:i1:1', 1, 0]]);
    for (let i = 0; i < 3; i++) assert.deepEqual(await admit('i2', m, 1n, { rpm: 10 }), ['ok']);
    assert.equal((await admit('i2', m, 1n, { rpm: 10 }))[0], 'rate');
    // Finalised at 0 used: it leaves the window.
    await lease('', 0, [['L:i1:1', 0, 0]]);
    assert.equal(await link.redis.zscore(z, 'L:i1:1'), null);
    assert.deepEqual(await admit('i2', m, 1n, { rpm: 10 }), ['ok']);
  });
});
