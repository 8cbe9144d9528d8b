// Failures counted per subject over a sliding window, for throttles (redemption guessing, failed
// authentication): in this process's memory by default, in Redis for every instance at once when
// REDIS_URL is set (cluster/failure-log.ts).

export interface FailureLog {
  /**
   * The subject's failures within the last `windowMs`, oldest first, and the time they were read at
   * (Redis's clock when shared). With `keep`, a failure is recorded first, and at most `keep` kept.
   */
  failures(subject: string, windowMs: number, now: number, keep?: number): Promise<{ now: number; times: number[] }>;
}

/** Above this many tracked subjects, those with no failure left in the window are forgotten. */
const SWEEP_AT = 10_000;

export class MemoryFailureLog implements FailureLog {
  private readonly times = new Map<string, number[]>();

  private recent(subject: string, windowMs: number, now: number): number[] {
    const times = this.times.get(subject);
    if (!times) return [];
    while (times.length > 0 && times[0]! <= now - windowMs) times.shift();
    if (times.length === 0) this.times.delete(subject);
    return times;
  }

  async failures(subject: string, windowMs: number, now: number, keep = 0): Promise<{ now: number; times: number[] }> {
    if (keep > 0 && this.times.size >= SWEEP_AT) for (const s of [...this.times.keys()]) this.recent(s, windowMs, now);
    const times = this.recent(subject, windowMs, now);
    if (keep > 0) {
      times.push(now);
      while (times.length > keep) times.shift();
      this.times.set(subject, times);
    }
    return { now, times: [...times] };
  }
}
