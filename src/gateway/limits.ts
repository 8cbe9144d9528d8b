import type { Runtime } from '../kernel/context.ts';
import { big, str } from '../storage/port.ts';

// Per-key and per-account request and token rates, per-key concurrency, and per-key spend limits
// (day, month, total; UTC periods), in this process's memory: the single-instance default. With
// REDIS_URL the same rules run in Redis for every instance at once (cluster/quotas.ts); both
// implement `Quotas` (gateway/quotas.ts), and both read a rate the same way:
//
//   RPM n, TPM t: at most n requests, and at most t tokens, in any 60 s (a sliding window log).
//
// A request enters the window with its estimated input tokens when admitted; when it ends, the
// tokens it really used (output included) replace the estimate, so a heavy answer makes what
// follows wait. A request may start when the window holds fewer than t tokens and its estimate
// (at most t) fits. Unlike a token bucket, a burst never lets 2n through in one minute.

export const RATE_WINDOW_MS = 60_000;

/**
 * The requests admitted for one subject (a key or an account) in the last minute, oldest first:
 * two parallel arrays (admission time, tokens), so a window of 100,000 requests costs ~2 MB.
 */
export class SlidingWindow {
  private at: number[] = [];
  private tokens: number[] = [];
  private head = 0;
  /** The sequence number of at[0] (entries keep theirs when the arrays are compacted). */
  private base = 0;
  private sum = 0;

  private prune(now: number): void {
    const from = now - RATE_WINDOW_MS;
    while (this.head < this.at.length && this.at[this.head]! <= from) this.sum -= this.tokens[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.tokens = this.tokens.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  get size(): number {
    return this.at.length - this.head;
  }

  /** 0 when a request of `tokens` fits under `rpm` and `tpm` (null: no limit) now, else the ms to wait. */
  waitMs(rpm: number | null, tpm: number | null, tokens: number, now: number): number {
    this.prune(now);
    const n = this.size;
    if (rpm !== null && n >= rpm) return Math.max(1, this.at[this.head + n - rpm]! + RATE_WINDOW_MS - now);
    if (tpm !== null) {
      const need = Math.min(tokens, tpm);
      if (this.sum >= tpm || this.sum + need > tpm) {
        // Until enough of the oldest entries have left the window.
        let s = this.sum;
        for (let i = this.head; i < this.at.length; i++) {
          s -= this.tokens[i]!;
          if (s < tpm && s + need <= tpm) return Math.max(1, this.at[i]! + RATE_WINDOW_MS - now);
        }
        return RATE_WINDOW_MS;
      }
    }
    return 0;
  }

  /** Enters a request; returns its sequence number (for `correct`). */
  add(tokens: number, now: number): number {
    this.at.push(now);
    this.tokens.push(tokens);
    this.sum += tokens;
    return this.base + this.at.length - 1;
  }

  /** The request used `delta` more (or fewer) tokens than it entered with; nothing once it left the window. */
  correct(seq: number, delta: number): void {
    const i = seq - this.base;
    if (i < this.head || i >= this.at.length || delta === 0) return;
    this.tokens[i]! += delta;
    this.sum += delta;
  }
}

/** Sliding windows per subject; subjects without a request in the last minute are forgotten. */
export class RateLimiter {
  private readonly windows = new Map<string, SlidingWindow>();
  private sweptAt = 0;

  waitMs(id: string, rpm: number | null, tpm: number | null, tokens: number, now: number): number {
    if (!rpm && !tpm) return 0;
    return this.windows.get(id)?.waitMs(rpm || null, tpm || null, tokens, now) ?? 0;
  }

  add(id: string, tokens: number, now: number): number {
    let w = this.windows.get(id);
    if (!w) this.windows.set(id, (w = new SlidingWindow()));
    const seq = w.add(tokens, now);
    if (now - this.sweptAt > RATE_WINDOW_MS) {
      this.sweptAt = now;
      for (const [k, win] of this.windows) if (win.waitMs(null, null, 0, now) === 0 && win.size === 0 && win !== w) this.windows.delete(k);
    }
    return seq;
  }

  correct(id: string, seq: number, delta: number): void {
    this.windows.get(id)?.correct(seq, delta);
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

  /** Loads the key's committed spend (once); `refusal` and `hold` may then run at once. */
  async prepare(keyId: string, now: number): Promise<void> {
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
  }

  /** True when the key's committed spend is loaded: `refusal` and `hold` may run without `prepare`. */
  ready(keyId: string): boolean {
    return this.keys.get(keyId)?.loaded === true;
  }

  private state(keyId: string, now: number): KeySpend {
    const s = this.keys.get(keyId);
    if (!s?.loaded) throw new Error(`key spend of ${keyId} used before prepare()`);
    const p = spendPeriods(now);
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

  /** The period whose limit `amount` would exceed (after prepare), or null. */
  refusal(keyId: string, limits: SpendLimits, amount: bigint, now: number): 'day' | 'month' | 'total' | null {
    if (!hasSpendLimit(limits)) return null;
    const s = this.state(keyId, now);
    if (limits.limit_day !== null && s.spentDay + s.reserved + amount > limits.limit_day) return 'day';
    if (limits.limit_month !== null && s.spentMonth + s.reserved + amount > limits.limit_month) return 'month';
    if (limits.limit_total !== null && s.spentTotal + s.reserved + amount > limits.limit_total) return 'total';
    return null;
  }

  hold(keyId: string, amount: bigint, now: number): void {
    this.state(keyId, now).reserved += amount;
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

export function hasSpendLimit(l: SpendLimits): boolean {
  return l.limit_day !== null || l.limit_month !== null || l.limit_total !== null;
}
