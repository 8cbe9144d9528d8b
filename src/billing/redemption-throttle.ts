import { MemoryFailureLog, type FailureLog } from '../kernel/failure-log.ts';
import { checkLimits, recordLimits, type Limit } from '../kernel/throttle.ts';

// Redemption codes are 80 random bits, but nothing should let a client try them at leisure:
// failed redemptions are counted per account and per client IP over a sliding window, and past the
// limit every redemption from that account or that IP is refused with 429 RATE_LIMITED until its
// oldest failure leaves the window. A success resets nothing: one real code must not buy more
// guesses. The counts are shared by every instance through Redis when REDIS_URL is set (this
// process's memory otherwise, and while Redis is away).

export interface ThrottleOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  maxFailures: number;
  windowMs: number;
}

export const REDEMPTION_THROTTLE: ThrottleOptions = { maxFailures: 10, windowMs: 10 * 60_000 };

export class RedemptionThrottle {
  private readonly opts: ThrottleOptions;
  private readonly log: FailureLog;

  constructor(opts: ThrottleOptions = REDEMPTION_THROTTLE, log: FailureLog = new MemoryFailureLog()) {
    this.opts = opts;
    this.log = log;
  }

  static subjects(accountId: string, ip: string | null): string[] {
    return ip ? [`redeem:account:${accountId}`, `redeem:ip:${ip}`] : [`redeem:account:${accountId}`];
  }

  private limits(subjects: readonly string[]): Limit[] {
    return subjects.map((subject) => ({ subject, max: this.opts.maxFailures, windowMs: this.opts.windowMs }));
  }

  /** Refuses (429 RATE_LIMITED, `retry_after` seconds) when any subject has used up its failures. */
  async check(subjects: readonly string[], now: number): Promise<void> {
    await checkLimits(this.log, this.limits(subjects), now, 'failed redemptions from this account or address');
  }

  async failed(subjects: readonly string[], now: number): Promise<void> {
    await recordLimits(this.log, this.limits(subjects), now);
  }
}
