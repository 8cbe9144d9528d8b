// Quotas: everything a request reserves before it is sent upstream — a place in its key's and its
// account's rate windows, a concurrency slot, its worst-case cost against the key's spend limits
// and against the account's balance — taken all together or not at all, and given back when the
// request ends. Two implementations keep the same rules: this process's memory (the single-
// instance default, below) and Redis, shared by every instance (cluster/quotas.ts).

import type { Balances } from '../billing/balances.ts';
import { hasSpendLimit, type Concurrency, type KeySpendTracker, type RateLimiter, type SpendLimits } from './limits.ts';

/** What one request asks for. Kept on the request until it ends (release gives back the same). */
export interface QuotaAsk {
  requestId: string;
  keyId: string;
  accountId: string;
  /** When it was admitted (ms). */
  at: number;
  /** Estimated input tokens (the rate windows' weight until the real usage is known). */
  tokens: number;
  /** The worst-case cost, held against the key's spend limits and the account's balance. */
  hold: bigint;
  keyRpm: number | null;
  keyTpm: number | null;
  accountRpm: number | null;
  accountTpm: number | null;
  concurrency: number | null;
  spend: SpendLimits;
  /** Where the request sits in its key's and its account's rate windows (-1: not entered); kept for the correction at its end. */
  keySeq?: number;
  accountSeq?: number;
  /** Shared quotas: what was taken from this instance's allowances, when admitted under them (cluster/allowances.ts). */
  ticket?: object;
}

export type QuotaRefusal =
  | { kind: 'rate'; whose: 'key' | 'account'; waitMs: number }
  | { kind: 'concurrency' }
  | { kind: 'key_limit'; period: 'day' | 'month' | 'total' }
  | { kind: 'balance'; available: bigint }
  /** The shared quotas cannot be reached or trusted now (safe mode): nothing is admitted. */
  | { kind: 'unavailable'; reason: string; retryMs: number };

export interface Quotas {
  /** Reserves everything the ask needs, or nothing and says why (at once when nothing must be loaded or asked). */
  admit(ask: QuotaAsk): Promise<QuotaRefusal | null> | QuotaRefusal | null;
  /**
   * The request ended: its holds and slot are given back, `charge` awaits the writer, and the rate
   * windows take `tokensDelta` more (or fewer) tokens than the estimate.
   */
  release(ask: QuotaAsk, charge: bigint, tokensDelta: number, end: number): void;
  /** The account's durable figures changed elsewhere (a top-up, a refund, a credit line). */
  invalidate(accountId: string): void;
}

/** In this process's memory: exact for one instance, and what Surety does without REDIS_URL. */
export class MemoryQuotas implements Quotas {
  private readonly limiter: RateLimiter;
  private readonly concurrency: Concurrency;
  private readonly spend: KeySpendTracker;
  private readonly balances: Balances;

  constructor(parts: { limiter: RateLimiter; concurrency: Concurrency; spend: KeySpendTracker; balances: Balances }) {
    this.limiter = parts.limiter;
    this.concurrency = parts.concurrency;
    this.spend = parts.spend;
    this.balances = parts.balances;
  }

  admit(a: QuotaAsk): Promise<QuotaRefusal | null> | QuotaRefusal | null {
    const limited = hasSpendLimit(a.spend);
    // Loads first (they wait on storage); then everything is checked and taken in one go. Once
    // loaded (nearly always), no await: the decision and the taking happen in the same tick.
    if (!this.balances.ready(a.accountId) || (limited && !this.spend.ready(a.keyId))) return this.loadThenAdmit(a, limited);
    return this.take(a, limited);
  }

  private async loadThenAdmit(a: QuotaAsk, limited: boolean): Promise<QuotaRefusal | null> {
    await this.balances.prepare(a.accountId);
    if (limited) await this.spend.prepare(a.keyId, a.at);
    return this.take(a, limited);
  }

  /** Checks and takes everything, synchronously (after the loads). */
  private take(a: QuotaAsk, limited: boolean): QuotaRefusal | null {
    const keyWait = this.limiter.waitMs(`k:${a.keyId}`, a.keyRpm, a.keyTpm, a.tokens, a.at);
    if (keyWait > 0) return { kind: 'rate', whose: 'key', waitMs: keyWait };
    const accountWait = this.limiter.waitMs(`a:${a.accountId}`, a.accountRpm, a.accountTpm, a.tokens, a.at);
    if (accountWait > 0) return { kind: 'rate', whose: 'account', waitMs: accountWait };
    if (a.concurrency !== null && !this.concurrency.acquire(a.keyId, a.concurrency)) return { kind: 'concurrency' };
    const period = limited ? this.spend.refusal(a.keyId, a.spend, a.hold, a.at) : null;
    const room = period ? 0n : this.balances.room(a.accountId);
    if (period || room < a.hold) {
      if (a.concurrency !== null) this.concurrency.release(a.keyId);
      return period ? { kind: 'key_limit', period } : { kind: 'balance', available: room };
    }
    a.keySeq = a.keyRpm || a.keyTpm ? this.limiter.add(`k:${a.keyId}`, a.tokens, a.at) : -1;
    a.accountSeq = a.accountRpm || a.accountTpm ? this.limiter.add(`a:${a.accountId}`, a.tokens, a.at) : -1;
    if (limited) this.spend.hold(a.keyId, a.hold, a.at);
    this.balances.hold(a.accountId, a.hold);
    return null;
  }

  release(a: QuotaAsk, charge: bigint, tokensDelta: number, end: number): void {
    this.balances.settle(a.accountId, a.hold, charge);
    if (hasSpendLimit(a.spend)) this.spend.settle(a.keyId, a.hold, charge, end);
    if (a.concurrency !== null) this.concurrency.release(a.keyId);
    if (tokensDelta !== 0) {
      if (a.keySeq !== undefined && a.keySeq >= 0) this.limiter.correct(`k:${a.keyId}`, a.keySeq, tokensDelta);
      if (a.accountSeq !== undefined && a.accountSeq >= 0) this.limiter.correct(`a:${a.accountId}`, a.accountSeq, tokensDelta);
    }
  }

  invalidate(accountId: string): void {
    this.balances.invalidate(accountId);
  }
}
