// Throttle failures in Redis, one sorted set per subject, so that every instance counts the same
// guesses. While Redis is away each instance counts in its own memory: still throttled (at most
// instances × the limit), never open.
import { MemoryFailureLog, type FailureLog } from '../kernel/failure-log.ts';
import { randomBytes } from 'node:crypto';
import { script, type RedisLink } from './redis.ts';
import { FAILURES } from './scripts.ts';

const S = script(FAILURES);

export class RedisFailureLog implements FailureLog {
  private readonly link: RedisLink;
  private readonly local = new MemoryFailureLog();

  constructor(link: RedisLink) {
    this.link = link;
  }

  async failures(subject: string, windowMs: number, now: number, keep = 0): Promise<{ now: number; times: number[] }> {
    const local = this.local.failures(subject, windowMs, now, keep);
    if (!this.link.ready) return local;
    try {
      const r = (await this.link.run(S, [this.link.key('t', subject)], [windowMs, keep, `${now}:${randomBytes(4).toString('hex')}`])) as number[];
      return { now: Number(r[0]), times: r.slice(1).map(Number) };
    } catch {
      return local;
    }
  }
}
