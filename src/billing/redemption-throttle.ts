import { AppError } from '../kernel/errors.ts';

// Redemption codes are 80 random bits, but nothing should let a client try them at leisure:
// failed redemptions are counted per account and per client IP over a sliding window, and past the
// limit every redemption from that account or that IP is refused with 429 RATE_LIMITED until its
// oldest failure leaves the window. A success resets nothing: one real code must not buy more
// guesses. The counts live in this process's memory (several instances each count their own; a
// later change moves limits to shared storage).

export interface ThrottleOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  maxFailures: number;
  windowMs: number;
}

export const REDEMPTION_THROTTLE: ThrottleOptions = { maxFailures: 10, windowMs: 10 * 60_000 };

/** Above this many tracked subjects, those with no failure left in the window are forgotten. */
const SWEEP_AT = 10_000;

export class RedemptionThrottle {
  private readonly opts: ThrottleOptions;
  /** Per subject (`account:<id>`, `ip:<addr>`), its most recent failure times, oldest first, at most maxFailures. */
  private readonly failures = new Map<string, number[]>();

  constructor(opts: ThrottleOptions = REDEMPTION_THROTTLE) {
    this.opts = opts;
  }

  static subjects(accountId: string, ip: string | null): string[] {
    return ip ? [`account:${accountId}`, `ip:${ip}`] : [`account:${accountId}`];
  }

  private recent(subject: string, now: number): number[] {
    const times = this.failures.get(subject);
    if (!times) return [];
    while (times.length > 0 && times[0]! <= now - this.opts.windowMs) times.shift();
    if (times.length === 0) this.failures.delete(subject);
    return times;
  }

  /** Refuses (429 RATE_LIMITED, `retry_after` seconds) when any subject has used up its failures. */
  check(subjects: readonly string[], now: number): void {
    let until = 0;
    for (const s of subjects) {
      const times = this.recent(s, now);
      if (times.length >= this.opts.maxFailures) until = Math.max(until, times[times.length - this.opts.maxFailures]! + this.opts.windowMs);
    }
    if (until > 0) {
      const retryAfter = Math.max(1, Math.ceil((until - now) / 1000));
      throw new AppError('RATE_LIMITED', `Too many failed redemptions from this account or address; try again in ${retryAfter} s.`, { retry_after: retryAfter });
    }
  }

  failed(subjects: readonly string[], now: number): void {
    if (this.failures.size >= SWEEP_AT) for (const s of [...this.failures.keys()]) this.recent(s, now);
    for (const s of subjects) {
      const times = this.recent(s, now);
      times.push(now);
      if (times.length > this.opts.maxFailures) times.shift();
      this.failures.set(s, times);
    }
  }
}
