// The connection to Redis and its state. ioredis (pure JS; reconnects by itself, runs scripts by
// their SHA and reloads them after a Redis restart, pipelines commands issued together) with no
// offline queue: while Redis is away a command fails at once, so that a request is refused in
// milliseconds (safe mode) instead of waiting for a reconnection.
//
// `ready` is true only while Redis answers AND this instance's shares have been written back after
// the last (re)connection; `lost` tells those who restore state that Redis came back empty.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface Script {
  lua: string;
  sha: string;
}

export function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * What runs when Redis (re)connects, before requests are admitted again. `lost`: Redis may hold
 * none of our state (it restarted, or this instance is new to it); `created`: this instance found
 * Redis empty and marked it (it decides whether others must be waited for).
 */
export type OnReady = (how: { lost: boolean; created: boolean }) => Promise<void>;

export class RedisLink {
  readonly redis: Redis;
  readonly prefix: string;
  private readonly log: Logger;
  private readyNow = false;
  private epoch: string | null = null;
  private everReady = false;
  private readonly onReady: OnReady[] = [];
  private lastProblem: string | null = 'connecting to Redis';

  constructor(url: string, prefix: string, log: Logger, opts: { commandTimeoutMs?: number } = {}) {
    this.prefix = prefix;
    this.log = log;
    this.redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      connectTimeout: 2000,
      // A Redis that stops answering without closing the connection is given up after this long.
      // Not shorter: the timer runs on this process's event loop, and an instance busy on its CPU
      // reads Redis's replies late; at 1 s, a loaded test machine saw a few admissions of a burst
      // refused as "Redis did not answer" although Redis had answered in time.
      commandTimeout: opts.commandTimeoutMs ?? 3000,
      // Back within a second of Redis: the fence after a restart (quotas.ts) counts on it.
      retryStrategy: (times) => Math.min(100 * times, 1000),
    });
    this.redis.on('ready', () => void this.restore());
    this.redis.on('close', () => this.down('the connection to Redis closed'));
    this.redis.on('error', (err) => this.down(`Redis: ${err.message}`));
  }

  /** Connects; resolves once ready, or after `waitMs` in safe mode (it keeps reconnecting). */
  async connect(waitMs = 3000): Promise<void> {
    this.redis.connect().catch(() => {});
    const until = Date.now() + waitMs;
    while (!this.readyNow && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (!this.readyNow) this.log.error({ problem: this.lastProblem }, 'Redis is not reachable: data-plane requests are refused until it is (safe mode)');
  }

  whenReady(fn: OnReady): void {
    this.onReady.push(fn);
  }

  get ready(): boolean {
    return this.readyNow;
  }

  /** Why requests are refused now, or null. */
  problem(): string | null {
    return this.readyNow ? null : this.lastProblem;
  }

  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /** Runs a script by its SHA; loads it the first time (and after a Redis restart). */
  async run(s: Script, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!String((e as Error).message).includes('NOSCRIPT')) throw e;
      return this.redis.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  private down(problem: string): void {
    if (this.readyNow || this.lastProblem !== problem) this.log.warn({ problem }, 'Redis unavailable: safe mode, data-plane requests are refused');
    this.readyNow = false;
    this.lastProblem = problem;
  }

  /** After each (re)connection: was Redis emptied meanwhile? Then let every part write its state back. */
  private async restore(): Promise<void> {
    try {
      const mark = randomBytes(8).toString('hex');
      await this.redis.set(this.key('epoch'), mark, 'NX');
      const epoch = await this.redis.get(this.key('epoch'));
      const created = epoch === mark;
      const lost = !this.everReady || epoch !== this.epoch;
      this.epoch = epoch;
      for (const fn of this.onReady) await fn({ lost, created });
      this.everReady = true;
      this.readyNow = true;
      this.lastProblem = null;
      this.log.info({ lost }, 'Redis ready');
    } catch (err) {
      this.down(`Redis: restoring shared state failed: ${(err as Error).message}`);
      // Try again shortly: a reconnection would call this too, but the connection may stay up.
      setTimeout(() => {
        if (!this.readyNow && this.redis.status === 'ready') void this.restore();
      }, 500).unref();
    }
  }

  async close(): Promise<void> {
    this.readyNow = false;
    this.redis.disconnect();
  }
}
