// Mirrors: the figures storage holds about an account's money and a key's spend, copied into Redis
// so that every instance reserves against the same numbers without touching PostgreSQL on the hot
// path. A mirror's base is (re)loaded only under the account's row lock, and every writer moves
// its charges from `unfl` to `base` under that same lock, before its COMMIT (writer.ts
// `committing`). A reload therefore never sees a charge in storage that the mirror still counts as
// unflushed, nor misses one the mirror already moved: no version counters, no retries.

import { available, lockAccount } from '../billing/books.ts';
import type { Runtime } from '../kernel/context.ts';
import { big } from '../storage/port.ts';
import type { RedisLink } from './redis.ts';

export type MirrorOf = { kind: 'account'; accountId: string } | { kind: 'spend'; keyId: string; period: string };

export class Mirrors {
  private readonly rt: Runtime;
  private readonly link: RedisLink;
  private readonly ttlMs: number;
  private readonly loading = new Map<string, Promise<void>>();

  constructor(rt: Runtime, link: RedisLink, ttlMs: number) {
    this.rt = rt;
    this.link = link;
    this.ttlMs = ttlMs;
  }

  account(accountId: string): string {
    return this.link.key('m', 'a', accountId);
  }

  spend(keyId: string, period: string): string {
    return this.link.key('m', 'k', keyId, period);
  }

  of(key: string): MirrorOf {
    const rest = key.slice(this.link.prefix.length + 2);
    if (rest.startsWith('a:')) return { kind: 'account', accountId: rest.slice(2) };
    const i = rest.indexOf(':', 2);
    return { kind: 'spend', keyId: rest.slice(2, i), period: rest.slice(i + 1) };
  }

  /** Loads a mirror's base from storage, under its account's lock (concurrent calls share one load). */
  load(key: string): Promise<void> {
    let p = this.loading.get(key);
    if (!p) {
      p = this.read(key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /** A load in the background (a stale base, a change notice); failures only logged. */
  refresh(key: string): void {
    if (this.loading.has(key) || !this.link.ready) return;
    this.load(key).catch((err) => this.rt.log.warn({ err: (err as Error).message, mirror: key }, 'mirror refresh failed'));
  }

  private async read(key: string): Promise<void> {
    const m = this.of(key);
    const { db } = this.rt;
    await db.tx(async (q) => {
      let base: bigint;
      if (m.kind === 'account') {
        base = available(await lockAccount(db, q, m.accountId));
      } else {
        const k = await q.get<{ account_id: string }>('SELECT account_id FROM api_keys WHERE id = ?', [m.keyId]);
        if (k) await lockAccount(db, q, k.account_id);
        const r = await q.get('SELECT amount FROM key_spend WHERE key_id = ? AND period = ?', [m.keyId, m.period]);
        base = -big(r?.amount);
      }
      // Still under the lock: no writer can commit for this account before base is in place.
      await this.link.redis.multi().hset(key, 'base', String(base), 'at', String(Date.now())).pexpire(key, this.ttlMs).exec();
    });
  }
}
