import type { LiveChannel, LiveModel } from '../catalog/index.ts';
import type { Outcome } from '../requests/outcomes.ts';

// Which channel serves the next attempt: highest priority first; within a priority, a weighted
// random order; channels whose circuit is open are skipped. A circuit opens after
// `failureThreshold` consecutive failures, stays open for a cool-down (doubling on each failed
// probe, capped), then lets exactly one request through as a probe: success closes it.

export type CircuitState = 'closed' | 'open' | 'half_open';

interface Breaker {
  state: CircuitState;
  /** Why the circuit is open: failures, or the channel's upstream account is out of credit. */
  reason: 'failures' | 'out_of_credit' | null;
  failures: number;
  openedAt: number;
  cooldownMs: number;
  probing: boolean;
  successes: number;
  errors: number;
}

export interface RouterOptions {
  failureThreshold?: number;
  cooldownMs?: number;
  maxCooldownMs?: number;
}

/** Outcomes that say something about the channel's health. */
const CHANNEL_FAILURE: ReadonlySet<Outcome> = new Set(['upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'platform_error']);

export class Router {
  private readonly breakers = new Map<string, Breaker>();
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly maxCooldownMs: number;
  private readonly random: () => number;

  constructor(opts: RouterOptions = {}, random: () => number = Math.random) {
    this.threshold = opts.failureThreshold ?? 5;
    this.cooldownMs = opts.cooldownMs ?? 15_000;
    this.maxCooldownMs = opts.maxCooldownMs ?? 300_000;
    this.random = random;
  }

  private breaker(id: string): Breaker {
    let b = this.breakers.get(id);
    if (!b) {
      b = { state: 'closed', reason: null, failures: 0, openedAt: 0, cooldownMs: this.cooldownMs, probing: false, successes: 0, errors: 0 };
      this.breakers.set(id, b);
    }
    return b;
  }

  /** May this channel take a request now? Moves open → half-open after the cool-down (one probe). */
  private admit(id: string, now: number): boolean {
    const b = this.breaker(id);
    if (b.state === 'closed') return true;
    if (b.state === 'open' && now - b.openedAt >= b.cooldownMs) {
      b.state = 'half_open';
      b.probing = false;
    }
    if (b.state === 'half_open' && !b.probing) {
      b.probing = true;
      return true;
    }
    return false;
  }

  /** Channels to try, in order, for one request. */
  plan(model: LiveModel, now: number): LiveChannel[] {
    const out: LiveChannel[] = [];
    const chans = model.channels;
    if (chans.length === 1) {
      if (this.admit(chans[0]!.config.id, now)) out.push(chans[0]!);
      return out;
    }
    let i = 0;
    while (i < chans.length) {
      let j = i;
      while (j < chans.length && chans[j]!.config.priority === chans[i]!.config.priority) j++;
      const group = chans.slice(i, j);
      // Weighted shuffle (Efraimidis–Spirakis keys).
      const keyed = group.map((c) => ({ c, k: Math.pow(this.random(), 1 / Math.max(1, c.config.weight)) })).sort((a, b) => b.k - a.k);
      for (const { c } of keyed) if (this.admit(c.config.id, now)) out.push(c);
      i = j;
    }
    return out;
  }

  /**
   * An attempt's outcome. `outOfCredit`: the channel's upstream account cannot pay (OpenAI's
   * insufficient_quota); retrying it cannot help, so its circuit opens at once, for the longest
   * cool-down, and its health says why. The probe after the cool-down finds out whether it was topped up.
   */
  record(channelId: string, outcome: Outcome, now: number, outOfCredit = false): void {
    const b = this.breaker(channelId);
    if (outOfCredit) {
      b.errors++;
      b.failures++;
      b.state = 'open';
      b.reason = 'out_of_credit';
      b.openedAt = now;
      b.cooldownMs = this.maxCooldownMs;
      b.probing = false;
      return;
    }
    if (CHANNEL_FAILURE.has(outcome)) {
      b.errors++;
      b.failures++;
      if (b.state === 'half_open') {
        b.state = 'open';
        b.openedAt = now;
        b.cooldownMs = Math.min(this.maxCooldownMs, b.cooldownMs * 2);
        b.probing = false;
      } else if (b.state === 'closed' && b.failures >= this.threshold) {
        b.state = 'open';
        b.reason = 'failures';
        b.openedAt = now;
      }
    } else if (outcome === 'ok' || outcome === 'client_error' || outcome === 'upstream_moderation') {
      // The upstream answered sensibly: the channel works.
      b.successes++;
      b.failures = 0;
      if (b.state !== 'closed') {
        b.state = 'closed';
        b.reason = null;
        b.cooldownMs = this.cooldownMs;
        b.probing = false;
      }
    } else if (b.state === 'half_open') {
      // The probe ended without telling us anything (client went away): let another probe through.
      b.probing = false;
    }
  }

  /** Pick the next key of a channel (round robin). */
  key(ch: LiveChannel): string {
    const k = ch.keys[ch.nextKey % ch.keys.length]!;
    ch.nextKey = (ch.nextKey + 1) % Math.max(1, ch.keys.length);
    return k;
  }

  state(channelId: string): { state: CircuitState; reason: 'failures' | 'out_of_credit' | null; failures: number; successes: number; errors: number } {
    const b = this.breaker(channelId);
    return { state: b.state, reason: b.reason, failures: b.failures, successes: b.successes, errors: b.errors };
  }
}
