// Quotas shared by every instance through Redis (gateway/quotas.ts has the contract and the
// in-memory twin). While the figures a request needs are abundant, it is admitted in memory under
// this instance's allowances (allowances.ts: slices taken from Redis in advance, counted there as
// taken). Otherwise one script run decides everything at once — rate windows, concurrency, the
// key's spend periods and the account's balance — so two instances can never both take the last
// dollar; such a request's end is one more run (not awaited: the answer has gone). See
// docs/scale-out.md for the design and what happens when Redis or an instance is lost.

import type { Runtime } from '../kernel/context.ts';
import { RATE_WINDOW_MS, spendPeriods, type SpendLimits } from '../gateway/limits.ts';
import type { QuotaAsk, QuotaRefusal, Quotas } from '../gateway/quotas.ts';
import type { ChargeObserver, CommittedCharge } from '../requests/writer.ts';
import { Allowances, type Subjects, type Ticket } from './allowances.ts';
import { Mirrors } from './mirrors.ts';
import { script, type RedisLink } from './redis.ts';
import { ADMIT, COMMIT, RELEASE, SYNC } from './scripts.ts';
import { Shares } from './shares.ts';

const S = { admit: script(ADMIT), release: script(RELEASE), commit: script(COMMIT), sync: script(SYNC) };

/** A mirror's base older than this is reloaded in the background (changes made without a notice). */
const REFRESH_MS = 5000;
/** Hashes no instance touched for a day leave Redis (they are reloaded from storage when needed). */
const KEPT_MS = 86_400_000;

const PERIODS = ['day', 'month', 'total'] as const;
/** How long a refused admission waits, each time, for recalled slices to come back (3 s in all). */
const RECALL_WAITS_MS = [100, 150, 200, 250, 300, 400, 500, 500, 600];
const LIMIT_OF = { day: 'limit_day', month: 'limit_month', total: 'limit_total' } as const satisfies Record<string, keyof SpendLimits>;

export class ClusterQuotas implements Quotas, ChargeObserver {
  readonly shares = new Shares();
  readonly mirrors: Mirrors;
  private readonly link: RedisLink;
  private readonly rt: Runtime;
  readonly instance: string;
  private readonly committingMirrors = new WeakMap<readonly CommittedCharge[], Map<string, { x: bigint; fromHeld: bigint }>>();
  private syncing: Promise<void> | null = null;
  readonly allow: Allowances;

  constructor(rt: Runtime, link: RedisLink, instance: string) {
    this.rt = rt;
    this.link = link;
    this.instance = instance;
    this.mirrors = new Mirrors(rt, link, KEPT_MS);
    this.allow = new Allowances(rt, link, this.shares, instance, {
      refreshMs: REFRESH_MS,
      keptMs: KEPT_MS,
      stale: (k) => this.mirrors.refresh(k),
      failed: (keys) => this.suspect(keys),
    });
    this.shares.unusedOf = (k) => this.allow.unusedOf(k);
  }

  get instKeys(): string {
    return this.link.key('inst', this.instance, 'keys');
  }

  /** The spend mirrors an ask reserves against (its limited periods as of `at`), with their limits. */
  private spendMirrors(a: QuotaAsk, at: number): Array<{ key: string; limit: bigint }> {
    const p = spendPeriods(at);
    const out: Array<{ key: string; limit: bigint }> = [];
    for (const period of PERIODS) {
      const limit = a.spend[LIMIT_OF[period]];
      if (limit !== null) out.push({ key: this.mirrors.spend(a.keyId, p[period]), limit });
    }
    return out;
  }

  private windows(a: QuotaAsk): string[] {
    const w = (kind: string, id: string) => [this.link.key('wz', kind, id), this.link.key('wh', kind, id)];
    return [...w('k', a.keyId), ...w('a', a.accountId)];
  }

  /** What an ask takes from, for the allowances. */
  private subjects(a: QuotaAsk): Subjects {
    const lanes: Subjects['lanes'] = [];
    if (a.keyRpm || a.keyTpm) lanes.push({ z: this.link.key('wz', 'k', a.keyId), h: this.link.key('wh', 'k', a.keyId), rpm: a.keyRpm ?? 0, tpm: a.keyTpm ?? 0 });
    if (a.accountRpm || a.accountTpm) lanes.push({ z: this.link.key('wz', 'a', a.accountId), h: this.link.key('wh', 'a', a.accountId), rpm: a.accountRpm ?? 0, tpm: a.accountTpm ?? 0 });
    return {
      mirrors: [{ key: this.mirrors.account(a.accountId), limit: 0n }, ...this.spendMirrors(a, a.at)],
      cc: a.concurrency !== null ? { key: this.link.key('cc', a.keyId), limit: a.concurrency } : null,
      lanes,
    };
  }

  admit(a: QuotaAsk): Promise<QuotaRefusal | null> | null {
    const t = this.allow.take(a, this.subjects(a), Date.now());
    if (t) {
      a.ticket = t;
      return null;
    }
    return this.admitShared(a);
  }

  /** The exact path: the ADMIT script (loading missing mirrors; waiting while recalled slices come back). */
  private async admitShared(a: QuotaAsk): Promise<QuotaRefusal | null> {
    this.allow.stats.shared++;
    let recalls = 0;
    for (let attempt = 0; attempt < 3; ) {
      const r = await this.tryAdmit(a);
      if (r && 'recalled' in r) {
        // Unused slices of other instances were recalled: they come back within a renewal or two.
        if (recalls >= RECALL_WAITS_MS.length) return r.recalled;
        await new Promise((res) => setTimeout(res, RECALL_WAITS_MS[recalls++]));
        continue;
      }
      if (!Array.isArray(r)) return r;
      attempt++;
      try {
        await Promise.all(r.map((k) => this.mirrors.load(k)));
      } catch (err) {
        this.rt.log.warn({ err: (err as Error).message }, 'shared balance could not be loaded');
        return unavailable('Shared balances could not be loaded from storage');
      }
    }
    return unavailable('Shared balances keep changing while they load');
  }

  /** One run of the admission script: a verdict, the mirrors to load first, or a refusal that recalled slices. */
  private async tryAdmit(a: QuotaAsk): Promise<QuotaRefusal | null | string[] | { recalled: QuotaRefusal }> {
    if (!this.link.ready) return unavailable(this.link.problem() ?? 'Redis is not ready');
    const spend = this.spendMirrors(a, a.at);
    const mirrors = [this.mirrors.account(a.accountId), ...spend.map((s) => s.key)];
    const cc = this.link.key('cc', a.keyId);
    const keys = [this.link.key('fence'), this.instKeys, ...this.windows(a), cc, ...mirrors];
    const args = [
      this.instance, a.requestId, a.tokens, RATE_WINDOW_MS, a.keyRpm ?? 0, a.keyTpm ?? 0, a.accountRpm ?? 0, a.accountTpm ?? 0,
      a.concurrency ?? -1, String(a.hold), REFRESH_MS, KEPT_MS, ...spend.map((s) => String(s.limit)),
    ];
    // Counted as ours before Redis answers, so that a sync meanwhile never forgets it.
    const undo = () => {
      for (const m of mirrors) this.shares.held(m, -a.hold);
      if (a.concurrency !== null) this.shares.slot(cc, -1);
    };
    for (const m of mirrors) this.shares.held(m, a.hold);
    if (a.concurrency !== null) this.shares.slot(cc, 1);
    const syncs = this.shares.syncs;
    let reply: Array<string | number>;
    try {
      reply = (await this.link.run(S.admit, keys, args)) as Array<string | number>;
    } catch (err) {
      // Taken or not, we cannot tell: our shares are written back at the next sync.
      undo();
      this.suspect(mirrors, a.concurrency !== null ? cc : null);
      return unavailable(`Redis did not answer (${(err as Error).message})`);
    }
    if (reply[0] === 'ok') {
      for (const k of reply.slice(1)) this.mirrors.refresh(String(k));
      return null;
    }
    undo();
    if (this.shares.syncs !== syncs) this.suspect(mirrors, a.concurrency !== null ? cc : null);
    if (reply[0] === 'load') return reply.slice(1).map(String);
    if (reply[0] === 'recall') return { recalled: refusal(a, reply.slice(1)) };
    return refusal(a, reply);
  }

  release(a: QuotaAsk, charge: bigint, tokensDelta: number, end: number): void {
    if (a.ticket) {
      const chargedAt = [this.mirrors.account(a.accountId), ...this.spendMirrors(a, end).map((s) => s.key)];
      return this.allow.release(a.ticket as Ticket, a, charge, tokensDelta, chargedAt);
    }
    // Holds come back where they were taken (periods as of admission); the charge counts in the periods it ends in.
    const deltas = new Map<string, { held: bigint; unfl: bigint }>();
    const at = (k: string) => deltas.get(k) ?? deltas.set(k, { held: 0n, unfl: 0n }).get(k)!;
    const account = this.mirrors.account(a.accountId);
    at(account).held += a.hold;
    at(account).unfl += charge;
    for (const s of this.spendMirrors(a, a.at)) at(s.key).held += a.hold;
    if (charge > 0n) for (const s of this.spendMirrors(a, end)) at(s.key).unfl += charge;
    const cc = this.link.key('cc', a.keyId);
    const keys = [...this.windows(a), cc];
    const args: string[] = [this.instance, a.requestId, String(tokensDelta), a.concurrency !== null ? '1' : '0'];
    for (const [k, d] of deltas) {
      this.shares.held(k, -d.held);
      this.shares.unfl(k, d.unfl);
      keys.push(k);
      args.push(String(d.held), String(d.unfl));
    }
    const slot = a.concurrency !== null ? cc : null;
    if (slot) this.shares.slot(slot, -1);
    if (!this.link.ready) return this.suspect(deltas.keys(), slot);
    this.link.run(S.release, keys, args).catch(() => this.suspect(deltas.keys(), slot));
  }

  invalidate(accountId: string): void {
    this.mirrors.refresh(this.mirrors.account(accountId));
  }

  /** The mirrors a batch's charges sit in, with the amount of each (key spend only where we hold it). */
  private chargedMirrors(charges: readonly CommittedCharge[]): Map<string, bigint> {
    const out = new Map<string, bigint>();
    const add = (k: string, x: bigint) => out.set(k, (out.get(k) ?? 0n) + x);
    for (const c of charges) {
      add(this.mirrors.account(c.accountId), c.amount);
      if (!c.keyId) continue;
      const p = spendPeriods(c.at);
      for (const period of PERIODS) {
        const k = this.mirrors.spend(c.keyId, p[period]);
        if (this.shares.unflOf(k) > 0n || (this.allow.slices.get(k)?.consumed ?? 0n) > 0n) add(k, c.amount);
      }
    }
    return out;
  }

  /** Takes charges out of our shares: first what was consumed under a slice (in held), the rest from unfl. */
  private takeCharges(charges: readonly CommittedCharge[]): Map<string, { x: bigint; fromHeld: bigint }> {
    const moved = new Map<string, { x: bigint; fromHeld: bigint }>();
    for (const [k, x] of this.chargedMirrors(charges)) {
      const fromHeld = this.allow.commitFrom(k, x);
      this.shares.unfl(k, fromHeld - x);
      moved.set(k, { x, fromHeld });
    }
    return moved;
  }

  async committing(charges: readonly CommittedCharge[]): Promise<void> {
    const moved = this.takeCharges(charges);
    this.committingMirrors.set(charges, moved);
    const keys = [...moved.keys()];
    if (!this.link.ready) return this.suspect(keys, null, true);
    const args: string[] = [this.instance];
    for (const { x, fromHeld } of moved.values()) args.push(String(x), String(fromHeld), String(x - fromHeld));
    try {
      await this.link.run(S.commit, keys, args);
    } catch {
      // The commit goes on; those bases may now miss it, so they are reloaded at the next sync.
      this.suspect(keys, null, true);
    }
  }

  notCommitted(charges: readonly CommittedCharge[]): void {
    const moved = this.committingMirrors.get(charges);
    if (!moved) return;
    for (const [k, { x, fromHeld }] of moved) {
      this.allow.uncommit(k, fromHeld);
      this.shares.unfl(k, x - fromHeld);
    }
    this.suspect(moved.keys(), null, true);
  }

  committed(): void {}

  dropped(c: CommittedCharge): void {
    this.suspect(this.takeCharges([c]).keys());
  }

  private suspect(keys: Iterable<string>, cc: string | null = null, stale = false): void {
    this.shares.suspect(keys, stale);
    if (cc) this.shares.suspect([cc]);
    this.scheduleSync();
  }

  private scheduleSync(): void {
    if (this.syncing || !this.link.ready) return;
    setTimeout(() => void this.sync(false).catch(() => {}), 10).unref();
  }

  /** Writes our shares back (the dirty ones, or all after Redis lost its data). */
  sync(all: boolean): Promise<void> {
    if (this.syncing) return this.syncing.then(() => this.sync(all));
    const { keys, args, stale } = this.shares.syncArgs(all);
    if (keys.length === 0) return Promise.resolve();
    const dirty = keys.filter((k) => !stale.includes(k));
    this.syncing = this.link
      .run(S.sync, [this.instKeys, ...keys], [this.instance, ...args])
      .then(
        () => undefined,
        (err) => {
          this.shares.suspect(dirty);
          this.shares.suspect(stale, true);
          throw err;
        },
      )
      .finally(() => (this.syncing = null));
    return this.syncing;
  }
}

/** ADMIT's refusal as the gateway's. */
function refusal(a: QuotaAsk, reply: Array<string | number>): QuotaRefusal {
  switch (reply[0]) {
    case 'rate':
      return { kind: 'rate', whose: reply[1] === 'key' ? 'key' : 'account', waitMs: Number(reply[2]) };
    case 'concurrency':
      return { kind: 'concurrency' };
    case 'key_limit':
      return { kind: 'key_limit', period: PERIODS.filter((p) => a.spend[LIMIT_OF[p]] !== null)[Number(reply[1]) - 1] ?? 'total' };
    case 'balance':
      return { kind: 'balance', available: BigInt(String(reply[1])) };
    default:
      return { kind: 'unavailable', reason: 'Shared quotas are being restored after Redis lost its data', retryMs: Math.max(1000, Number(reply[1])) };
  }
}

function unavailable(reason: string): QuotaRefusal {
  return { kind: 'unavailable', reason, retryMs: 1000 };
}
