// Allowances: how an instance admits most requests without waiting for Redis. While an account's
// balance, a key's spend limit, a concurrency limit or a rate window is ABUNDANT (at least K times
// what is asked is free), the instance takes a slice of it in advance, in the open: the slice is a
// standing part of its share in Redis (`h:<instance>` of `held`, `c:<instance>` of `n`, or a rate
// window entry standing for several requests), so every other instance counts it as taken. Requests
// that fit in the slices are admitted in this process's memory, in the same tick; the others go to
// the exact ADMIT script as before. Once a figure is no longer abundant no slice is granted, and a
// refusal by ADMIT while slices sit unused recalls them (the refused request is retried), so a
// small balance is still served to its last cent ("exactly 40 of 300") and nothing is overspent.
//
// A renewal (the RENEW script, one round trip for every slice of this instance) runs every
// TICK_MS while slices exist, and at once when one runs low: it tops slices up, gives back what
// sits idle or was recalled, and finalises rate entries whose life ended (their unused requests
// and tokens leave the window). A slice is part of this instance's shares, so a SIGKILLed
// instance's slices are reaped with its holds, and SYNC writes them back after a failure.
// docs/scale-out.md has the reasoning and the numbers.

import { Counter, type Registry } from 'prom-client';
import { RATE_WINDOW_MS } from '../gateway/limits.ts';
import type { QuotaAsk } from '../gateway/quotas.ts';
import type { Runtime } from '../kernel/context.ts';
import { script, type RedisLink } from './redis.ts';
import { RENEW } from './scripts.ts';
import type { Shares } from './shares.ts';
import { Allowance, LEASE_LIFE_MS, Lane, TICK_MS, type Entry } from './slices.ts';

const S = { renew: script(RENEW) };

/** A slice is at most 1/K of what is free when granted. */
const ABUNDANCE = 16;
/** A slice unused this long is given back. */
const IDLE_MS = 2000;
/** After a recall, no slice is asked on that figure for this long. */
const RECALL_MS = 5000;
/** Local admissions under a rate entry stop this long before its end (the round trip is not timed). */
const MARGIN_MS = 50;
/** After a grant was refused (not abundant), none is asked on that figure for this long. */
const DENIED_MS = 1000;

/** One figure in a RENEW run, to apply its reply to. */
interface Op {
  x?: Allowance;
  kept?: bigint;
  /** What was asked (counted in our share until the answer). */
  want?: bigint;
  lane?: Lane;
  entry?: Entry;
}

/** What a request admitted locally took (kept on its ask until it ends). */
export interface Ticket {
  /** The account's slice first, then one per limited spend period (as of admission). */
  mirrors: Allowance[];
  cc: Allowance | null;
  entries: Entry[];
}

export interface Subjects {
  mirrors: Array<{ key: string; limit: bigint }>;
  cc: { key: string; limit: number } | null;
  lanes: Array<{ z: string; h: string; rpm: number; tpm: number }>;
}

export class Allowances {
  private readonly rt: Runtime;
  private readonly link: RedisLink;
  private readonly shares: Shares;
  private readonly instance: string;
  private readonly onStale: (key: string) => void;
  private readonly onFailure: (keys: string[]) => void;
  /** A mirror's base older than this is reloaded; hashes untouched this long leave Redis (the quotas' own figures). */
  private readonly refreshMs: number;
  private readonly keptMs: number;
  readonly slices = new Map<string, Allowance>();
  readonly lanes = new Map<string, Lane>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private again = false;
  private seq = 0;
  /** Counters for tests and /metrics: admissions in memory (under slices) and through ADMIT, renewals, slices recalled. */
  readonly stats = { local: 0, shared: 0, renewals: 0, recalls: 0 };

  constructor(
    rt: Runtime,
    link: RedisLink,
    shares: Shares,
    instance: string,
    opts: { refreshMs: number; keptMs: number; stale: (key: string) => void; failed: (keys: string[]) => void },
  ) {
    this.rt = rt;
    this.link = link;
    this.shares = shares;
    this.instance = instance;
    this.refreshMs = opts.refreshMs;
    this.keptMs = opts.keptMs;
    this.onStale = opts.stale;
    this.onFailure = opts.failed;
  }

  /** Exposes the counters on /metrics (read at scrape time). */
  register(registry: Registry): void {
    const stats = this.stats;
    const counter = (name: string, help: string, read: (c: Counter<'path'>) => void, labelNames: Array<'path'> = []) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          read(this);
        },
      });
    counter('surety_shared_quota_admissions_total', "Admissions with shared quotas: in memory under this instance's allowances (local) or through the ADMIT script (redis)", (c) => {
      c.inc({ path: 'local' }, stats.local);
      c.inc({ path: 'redis' }, stats.shared);
    }, ['path']);
    counter('surety_allowance_renewals_total', 'RENEW runs (allowances topped up, given back, rate entries finalised)', (c) => c.inc(stats.renewals));
    counter('surety_allowance_recalls_total', 'Times an unused allowance of this instance was recalled by a refusal elsewhere', (c) => c.inc(stats.recalls));
  }

  /** The unused part of our slice on `key` (SYNC writes it as our lz share). */
  unusedOf(key: string): bigint {
    return this.slices.get(key)?.unused ?? 0n;
  }

  private slice(key: string, kind: 'm' | 'c', limit: bigint): Allowance {
    let a = this.slices.get(key);
    if (!a) this.slices.set(key, (a = new Allowance(key, kind, limit)));
    a.limit = limit;
    return a;
  }

  private lane(z: string, h: string, rpm: number, tpm: number): Lane {
    let l = this.lanes.get(z);
    if (!l) this.lanes.set(z, (l = new Lane(z, h, rpm, tpm)));
    l.rpm = rpm;
    l.tpm = tpm;
    return l;
  }

  /**
   * Admits `a` under this instance's slices, or says it cannot (null: ask ADMIT). Either way the
   * demand is noted, so that slices are asked for what is used.
   */
  take(a: QuotaAsk, s: Subjects, now: number): Ticket | null {
    if (!this.link.ready) return null;
    const mirrors: Allowance[] = [];
    let fits = true;
    // Whether a renewal could help a request that does not fit (something short may be asked).
    let askable = false;
    const short = (x: Allowance, need: bigint) => {
      if (x.unused >= need) return;
      fits = false;
      if (now >= x.deniedUntil && now >= x.recalledUntil) askable = true;
    };
    for (const m of s.mirrors) {
      const x = this.slice(m.key, 'm', m.limit);
      x.hits++;
      x.lastUse = now;
      if (a.hold > x.unit) x.unit = a.hold;
      short(x, a.hold);
      mirrors.push(x);
    }
    let cc: Allowance | null = null;
    if (s.cc) {
      cc = this.slice(s.cc.key, 'c', BigInt(s.cc.limit));
      cc.hits++;
      cc.lastUse = now;
      cc.unit = 1n;
      short(cc, 1n);
    }
    const entries: Entry[] = [];
    for (const w of s.lanes) {
      const l = this.lane(w.z, w.h, w.rpm, w.tpm);
      l.hits++;
      l.lastUse = now;
      if (a.tokens > l.tokenUnit) l.tokenUnit = a.tokens;
      const e = l.open(a.tokens, now);
      if (e) entries.push(e);
      else {
        fits = false;
        if (!l.asking && now >= l.deniedUntil) askable = true;
      }
    }
    this.schedule();
    if (!fits) {
      if (askable) this.kick();
      return null;
    }
    // Running low on something that may be topped up: a renewal now, ahead of the tick.
    let low = false;
    const lowOn = (x: Allowance) => x.unused * 2n < x.target() && now >= x.deniedUntil && now >= x.recalledUntil;
    for (const x of mirrors) {
      x.used += a.hold;
      if (lowOn(x)) low = true;
    }
    if (cc) {
      cc.used += 1n;
      if (lowOn(cc)) low = true;
    }
    for (const e of entries) {
      e.usedN++;
      e.usedT += a.tokens;
      if (!e.lane.asking && now >= e.lane.deniedUntil && e.lane.short(now)) low = true;
    }
    if (low) this.kick();
    this.stats.local++;
    return { mirrors, cc, entries };
  }

  /**
   * A request admitted under slices ended. `chargedAt[i]` is the mirror its charge counts in for
   * `t.mirrors[i]` (a spend period may have turned over since admission).
   */
  release(t: Ticket, a: QuotaAsk, charge: bigint, tokensDelta: number, chargedAt: string[]): void {
    const hold = a.hold;
    const extra: string[] = [];
    t.mirrors.forEach((x, i) => {
      x.used -= hold;
      const k = chargedAt[i]!;
      if (charge === 0n) return;
      if (k === x.key) x.consumed += charge;
      else {
        // Into the period it ended in, as an ordinary unflushed charge (written back by the next sync).
        this.shares.unfl(k, charge);
        extra.push(k);
      }
      // A charge beyond its hold: our share grows by the excess (written back by the next sync).
      const over = x.used + x.consumed - x.total;
      if (over > 0n) {
        x.total += over;
        this.shares.held(x.key, over);
        extra.push(x.key);
      }
    });
    if (t.cc) t.cc.used -= 1n;
    if (tokensDelta !== 0) {
      // Entries are sized on the tokens requests really use (the estimate leaves the output out).
      const used = a.tokens + tokensDelta;
      for (const e of t.entries) {
        if (used > e.lane.tokenUnit) e.lane.tokenUnit = used;
        if (!e.done) e.usedT = Math.max(0, e.usedT + tokensDelta);
        else e.lane.corrections.set(e.member, (e.lane.corrections.get(e.member) ?? 0) + tokensDelta);
      }
    }
    if (extra.length > 0) this.onFailure(extra);
  }

  /** A batch commits charges of `key`: the part consumed under our slice leaves it (and held). */
  commitFrom(key: string, amount: bigint): bigint {
    const x = this.slices.get(key);
    if (!x || x.consumed === 0n) return 0n;
    const f = amount < x.consumed ? amount : x.consumed;
    x.consumed -= f;
    x.total -= f;
    this.shares.held(key, -f);
    return f;
  }

  /** The commit did not happen: the part comes back. */
  uncommit(key: string, f: bigint): void {
    if (f === 0n) return;
    const x = this.slice(key, 'm', this.slices.get(key)?.limit ?? 0n);
    x.consumed += f;
    x.total += f;
    this.shares.held(key, f);
  }

  /** Redis lost its data: every unused slice is gone (SYNC then writes back what is in use). */
  dropUnused(): void {
    for (const x of this.slices.values()) this.giveBack(x, x.unused);
    for (const l of this.lanes.values()) {
      for (const e of l.entries) e.done = true;
      l.entries = [];
      l.corrections.clear();
    }
  }

  private giveBack(x: Allowance, r: bigint): void {
    if (r <= 0n) return;
    x.total -= r;
    this.share(x, -r);
  }

  /** Our share in Redis for a slice's figure, moved by `d`. */
  private share(x: Allowance, d: bigint): void {
    if (d === 0n) return;
    if (x.kind === 'm') this.shares.held(x.key, d);
    else this.shares.slot(x.key, Number(d));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.renew(true), TICK_MS);
    this.timer.unref();
  }

  /** A renewal now (or right after the one running). */
  private kick(): void {
    if (this.busy) this.again = true;
    else queueMicrotask(() => this.renew());
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One RENEW run for every slice and lane that needs one (`timed`: the tick, which also measures demand). */
  renew(timed = false): void {
    if (timed) {
      for (const x of this.slices.values()) x.tick();
      for (const l of this.lanes.values()) l.tick();
    }
    if (this.busy) {
      this.again = true;
      return;
    }
    if (!this.link.ready) return;
    const now = Date.now();
    const keys: string[] = [this.link.key('fence'), this.link.key('inst', this.instance, 'keys')];
    const args: Array<string | number> = [this.instance, ABUNDANCE, this.refreshMs, this.keptMs, RATE_WINDOW_MS, LEASE_LIFE_MS];
    const ops: Op[] = [];
    for (const x of this.slices.values()) {
      const idle = now - x.lastUse > IDLE_MS;
      if (idle && x.total === 0n && x.used === 0n && x.consumed === 0n && x.reported === 0n) {
        this.slices.delete(x.key);
        continue;
      }
      let ret = 0n;
      let want = 0n;
      if (idle || now < x.recalledUntil) ret = x.unused > 0n ? x.unused : 0n;
      else if (now >= x.deniedUntil && x.unused < x.target()) want = x.target() - x.unused;
      if (ret === 0n && want === 0n && x.unused === 0n && x.reported === 0n) continue;
      this.giveBack(x, ret);
      const kept = x.unused > 0n ? x.unused : 0n;
      keys.push(x.key);
      // Whole or not at all (the least worth granting is what is asked): a figure that cannot spare
      // 16 times a full slice gets none, and is admitted exactly, without recalls, to its last cent.
      args.push(x.kind, String(ret), String(kept), String(want), String(want), String(x.limit));
      // Counted in our share before Redis answers (as an admission's hold is), so that a sync
      // meanwhile never writes back a share without a grant Redis already made.
      this.share(x, want);
      ops.push({ x, kept, want });
    }
    for (const l of this.lanes.values()) {
      const fin: Entry[] = [];
      for (const e of l.entries) if (!e.done && (now >= e.end || l.room(e) <= 0)) fin.push(e);
      for (const e of fin) e.done = true;
      if (fin.length > 0) l.entries = l.entries.filter((e) => !e.done);
      const active = now - l.lastUse <= IDLE_MS;
      const entry: Entry | null =
        active && !l.asking && now >= l.deniedUntil && l.short(now)
          ? { lane: l, member: `L:${this.instance}:${++this.seq}`, end: now + LEASE_LIFE_MS - MARGIN_MS, slots: l.slotsWanted(), tokens: 0, usedN: 0, usedT: 0, done: false }
          : null;
      if (entry) entry.tokens = l.tpm > 0 ? entry.slots * l.tokensPerRequest() * 2 : 0;
      if (!entry && fin.length === 0 && l.corrections.size === 0) {
        if (!active && l.entries.length === 0) this.lanes.delete(l.z);
        continue;
      }
      keys.push(l.z, l.h);
      args.push('w', l.rpm, l.tpm, entry?.member ?? '', entry?.slots ?? 0, entry?.tokens ?? 0, fin.length);
      for (const e of fin) args.push(e.member, e.usedN, e.usedT);
      args.push(l.corrections.size);
      for (const [m, d] of l.corrections) args.push(m, d);
      l.corrections.clear();
      if (entry) l.asking = true;
      ops.push({ lane: l, entry: entry ?? undefined });
    }
    if (this.slices.size === 0 && this.lanes.size === 0) this.close();
    if (ops.length === 0) return;
    const syncs = this.shares.syncs;
    this.busy = true;
    this.stats.renewals++;
    this.link
      .run(S.renew, keys, args)
      .then(
        (reply) => this.apply(ops, reply as string[], syncs),
        (err) => {
          // Granted or not, we cannot tell: our money and slot shares are written back absolute by
          // the next sync; a rate entry granted meanwhile stays unused in the window (conservative).
          for (const o of ops) {
            if (o.lane) o.lane.asking = false;
            if (o.x) this.share(o.x, -o.want!);
          }
          this.onFailure(ops.filter((o) => o.x).map((o) => o.x!.key));
          this.rt.log.debug({ err: (err as Error).message }, 'allowance renewal failed');
        },
      )
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          queueMicrotask(() => this.renew());
        }
      });
  }

  private apply(ops: Op[], reply: string[], syncs: number): void {
    const now = Date.now();
    const resync: string[] = [];
    ops.forEach((o, i) => {
      const g = reply[i * 2]!;
      const flag = reply[i * 2 + 1]!;
      if (o.x) {
        const x = o.x;
        const grant = BigInt(g);
        x.total += grant;
        this.share(x, grant - o.want!);
        // A sync ran meanwhile and wrote back what we asked, not what was granted: write again.
        if (grant !== o.want && this.shares.syncs !== syncs) resync.push(x.key);
        x.reported = o.kept! + grant;
        // Refused for want of room (not for a base still loading): not asked again for a while.
        if (o.want! > 0n && grant === 0n && flag === '') x.deniedUntil = now + DENIED_MS;
        if (flag === 'r') {
          if (now >= x.recalledUntil) this.stats.recalls++;
          x.recalledUntil = now + RECALL_MS;
          if (x.unused > 0n) this.again = true;
        } else if (flag === 's' || flag === 'l') this.onStale(x.key);
      } else if (o.lane) {
        o.lane.asking = false;
        if (g === '1' && o.entry) o.lane.entries.push(o.entry);
        else if (o.entry) o.lane.deniedUntil = now + DENIED_MS;
      }
    });
    if (resync.length > 0) this.onFailure(resync);
  }
}
