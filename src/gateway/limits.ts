import type { Runtime } from '../kernel/context.ts';
import { big, str } from '../storage/port.ts';

// Per-key and per-account request and token rates (token buckets refilled continuously), per-key
// concurrency, and per-key spend limits (day, month, total; UTC periods). All in memory: limits
// are enforced per gateway instance; spend is persisted by the writer (key_spend) and loaded once.

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly capacity: number;
  private readonly perMs: number;

  constructor(perMinute: number, now: number) {
    this.capacity = perMinute;
    this.tokens = perMinute;
    this.perMs = perMinute / 60_000;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
  }

  /** Takes n if there are n (the bucket may not start a request with a deficit). */
  take(n: number, now: number): boolean {
    this.refill(now);
    if (this.tokens < Math.min(n, this.capacity) || this.tokens <= 0) return false;
    this.tokens -= n;
    return true;
  }

  /** Charges (or refunds) after the fact; may go negative so that a heavy request slows what follows. */
  adjust(n: number, now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.capacity, this.tokens - n);
  }

  /** Milliseconds until `n` tokens are there. */
  waitMs(n: number, now: number): number {
    this.refill(now);
    return this.tokens >= n ? 0 : Math.ceil((Math.min(n, this.capacity) - this.tokens) / this.perMs);
  }
}

interface BucketPair {
  rpm: TokenBucket | null;
  tpm: TokenBucket | null;
  rpmLimit: number | null;
  tpmLimit: number | null;
}

export class RateLimiter {
  private readonly buckets = new Map<string, BucketPair>();

  private pair(id: string, rpm: number | null, tpm: number | null, now: number): BucketPair {
    let p = this.buckets.get(id);
    if (!p || p.rpmLimit !== rpm || p.tpmLimit !== tpm) {
      p = { rpm: rpm ? new TokenBucket(rpm, now) : null, tpm: tpm ? new TokenBucket(tpm, now) : null, rpmLimit: rpm, tpmLimit: tpm };
      this.buckets.set(id, p);
    }
    return p;
  }

  /**
   * One request with `tokens` estimated input tokens. Returns 0 when admitted, else the
   * milliseconds to wait (for Retry-After). Nothing is taken when refused.
   */
  admit(id: string, rpm: number | null, tpm: number | null, tokens: number, now: number): number {
    if (!rpm && !tpm) return 0;
    const p = this.pair(id, rpm, tpm, now);
    if (p.rpm && p.rpm.waitMs(1, now) > 0) return p.rpm.waitMs(1, now);
    if (p.tpm && p.tpm.waitMs(Math.min(tokens, p.tpm.capacity), now) > 0) return p.tpm.waitMs(Math.min(tokens, p.tpm.capacity), now);
    p.rpm?.take(1, now);
    p.tpm?.adjust(tokens, now);
    return 0;
  }

  /** After the request: the tokens actually used replace the estimate. */
  correct(id: string, delta: number, now: number): void {
    const p = this.buckets.get(id);
    if (p?.tpm && delta !== 0) p.tpm.adjust(delta, now);
  }
}

export class Concurrency {
  private readonly inFlight = new Map<string, number>();
  acquire(id: string, limit: number | null): boolean {
    const n = this.inFlight.get(id) ?? 0;
    if (limit !== null && n >= limit) return false;
    this.inFlight.set(id, n + 1);
    return true;
  }
  release(id: string): void {
    const n = (this.inFlight.get(id) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(id);
    else this.inFlight.set(id, n);
  }
}

let periodsCache: { from: number; to: number; p: { day: string; month: string; total: string } } | null = null;

/** The UTC day and month a time falls in (cached for the current day: this runs per request). */
export function spendPeriods(now: number): { day: string; month: string; total: string } {
  if (periodsCache && now >= periodsCache.from && now < periodsCache.to) return periodsCache.p;
  const d = new Date(now).toISOString();
  const from = Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)));
  const p = { day: `d:${d.slice(0, 10)}`, month: `m:${d.slice(0, 7)}`, total: 't' };
  periodsCache = { from, to: from + 86_400_000, p };
  return p;
}

interface KeySpend {
  day: string;
  month: string;
  spentDay: bigint;
  spentMonth: bigint;
  spentTotal: bigint;
  /** Holds of in-flight requests of this key. */
  reserved: bigint;
  loading: Promise<void> | null;
  loaded: boolean;
}

export interface SpendLimits {
  limit_day: bigint | null;
  limit_month: bigint | null;
  limit_total: bigint | null;
}

/** Key spend against its limits: committed spend (storage) + settled in memory + in-flight holds. */
export class KeySpendTracker {
  private readonly keys = new Map<string, KeySpend>();
  private readonly rt: Runtime;
  constructor(rt: Runtime) {
    this.rt = rt;
  }

  private async state(keyId: string, now: number): Promise<KeySpend> {
    const p = spendPeriods(now);
    let s = this.keys.get(keyId);
    if (!s) {
      s = { day: p.day, month: p.month, spentDay: 0n, spentMonth: 0n, spentTotal: 0n, reserved: 0n, loading: null, loaded: false };
      this.keys.set(keyId, s);
    }
    if (!s.loaded) {
      const st = s;
      st.loading ??= (async () => {
        const rows = await this.rt.db.all('SELECT period, amount FROM key_spend WHERE key_id = ? AND period IN (?, ?, ?)', [keyId, p.day, p.month, p.total]);
        for (const r of rows) {
          const period = str(r.period);
          // Added to what was settled in memory meanwhile (the writer adds those to storage later).
          if (period === p.day) st.spentDay += big(r.amount);
          else if (period === p.month) st.spentMonth += big(r.amount);
          else st.spentTotal += big(r.amount);
        }
        st.loaded = true;
      })();
      await st.loading;
    }
    if (s.day !== p.day) {
      s.day = p.day;
      s.spentDay = 0n;
    }
    if (s.month !== p.month) {
      s.month = p.month;
      s.spentMonth = 0n;
    }
    return s;
  }

  /** Reserves `amount` against the key's limits; false when a limit would be exceeded. */
  async reserve(keyId: string, limits: SpendLimits, amount: bigint, now: number): Promise<'day' | 'month' | 'total' | null> {
    if (limits.limit_day === null && limits.limit_month === null && limits.limit_total === null) return null;
    const s = await this.state(keyId, now);
    if (limits.limit_day !== null && s.spentDay + s.reserved + amount > limits.limit_day) return 'day';
    if (limits.limit_month !== null && s.spentMonth + s.reserved + amount > limits.limit_month) return 'month';
    if (limits.limit_total !== null && s.spentTotal + s.reserved + amount > limits.limit_total) return 'total';
    s.reserved += amount;
    return null;
  }

  settle(keyId: string, reserved: bigint, charged: bigint, now: number): void {
    const s = this.keys.get(keyId);
    if (!s) return;
    s.reserved -= reserved;
    const p = spendPeriods(now);
    if (s.day === p.day) s.spentDay += charged;
    if (s.month === p.month) s.spentMonth += charged;
    s.spentTotal += charged;
  }
}
