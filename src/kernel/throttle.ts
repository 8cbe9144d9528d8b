import { AppError } from './errors.ts';
import type { FailureLog } from './failure-log.ts';

// A sliding-window limit over a FailureLog (this process's memory, or Redis for every instance):
// each subject may have `max` events within `windowMs`; past that, the action is refused with 429
// RATE_LIMITED and `retry_after` (seconds until the oldest counted event leaves the window). Used
// where every attempt counts, not only failures (anonymous e-mail sign-ups: each sends a mail).

export interface Limit {
  subject: string;
  max: number;
  windowMs: number;
}

/** Refuses (429 RATE_LIMITED) when a subject has used up its limit; `what` names the action in the message. */
export async function checkLimits(log: FailureLog, limits: readonly Limit[], now: number, what: string): Promise<void> {
  let wait = 0;
  for (const l of limits) {
    const { now: at, times } = await log.failures(l.subject, l.windowMs, now);
    if (times.length >= l.max) wait = Math.max(wait, times[times.length - l.max]! + l.windowMs - at);
  }
  if (wait > 0) {
    const retryAfter = Math.max(1, Math.ceil(wait / 1000));
    throw new AppError('RATE_LIMITED', `Too many ${what}; try again in ${retryAfter} s.`, { retry_after: retryAfter });
  }
}

/** Counts one event against every limit. */
export async function recordLimits(log: FailureLog, limits: readonly Limit[], now: number): Promise<void> {
  for (const l of limits) await log.failures(l.subject, l.windowMs, now, l.max);
}

/** Checks, then counts: the usual order for an action that is itself the thing limited. */
export async function takeLimits(log: FailureLog, limits: readonly Limit[], now: number, what: string): Promise<void> {
  await checkLimits(log, limits, now, what);
  await recordLimits(log, limits, now);
}
