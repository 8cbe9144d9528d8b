import type { Runtime } from '../kernel/context.ts';
import { big } from '../storage/port.ts';
import { available } from './books.ts';

// The data plane's view of each account's money, in memory, so that no storage write happens on
// the hot path before the upstream call. The durable part (paid + granted, credit line, holds
// made through the ledger API) is read from storage; request holds and settled-but-unflushed
// charges live here. A crash loses in-memory holds (nothing was charged for them) and at most
// one unflushed batch of settlements together with their log rows (never a charge without a row).
// What an account can commit is the one formula of books.ts `available`, with this process's
// request holds and unflushed charges as money in flight.

interface AccountMoneyState {
  durable: bigint;
  creditLine: bigint;
  durableHeld: bigint;
  held: bigint;
  unflushed: bigint;
  /** Bumped by the writer when it sets `durable` from a commit; a reload started before is stale. */
  version: number;
  stale: boolean;
  loading: Promise<void> | null;
  loadedAt: number;
}

function free(s: AccountMoneyState): bigint {
  return available({ balance: s.durable, creditLine: s.creditLine, held: s.durableHeld, inFlight: s.held + s.unflushed });
}

export class Balances {
  private readonly accounts = new Map<string, AccountMoneyState>();
  private readonly rt: Runtime;
  /** Changes made by another process (the CLI, another instance) are seen within this time. */
  private readonly refreshMs: number;

  constructor(rt: Runtime, refreshMs = 2000) {
    this.rt = rt;
    this.refreshMs = refreshMs;
  }

  /** Marks an account for reload (a top-up, refund or ledger hold changed it elsewhere). */
  invalidate(accountId: string): void {
    const s = this.accounts.get(accountId);
    if (s) s.stale = true;
  }

  private async ensure(accountId: string): Promise<AccountMoneyState> {
    let s = this.accounts.get(accountId);
    if (!s) {
      s = { durable: 0n, creditLine: 0n, durableHeld: 0n, held: 0n, unflushed: 0n, version: 0, stale: true, loading: null, loadedAt: 0 };
      this.accounts.set(accountId, s);
    } else if (!s.loading && this.expired(s)) {
      s.stale = true;
    }
    // A load in progress has cleared `stale` but not yet set the figures: wait for it too.
    while (s.stale || s.loading) {
      if (!s.loading) s.loading = this.load(accountId, s).finally(() => (s!.loading = null));
      await s.loading;
    }
    return s;
  }

  private async load(accountId: string, s: AccountMoneyState): Promise<void> {
    const version = s.version;
    s.stale = false;
    s.loadedAt = this.rt.now();
    const r = await this.rt.db.get(
      `SELECT a.credit_line, a.held, CAST(COALESCE((SELECT SUM(balance) FROM books WHERE account_id = a.id), 0) AS BIGINT) AS total FROM accounts a WHERE a.id = ?`,
      [accountId],
    );
    if (s.version !== version) {
      // The writer committed while we read: our figure may predate it. Read again.
      s.stale = true;
      return;
    }
    if (!s.stale) {
      s.durable = big(r?.total);
      s.creditLine = big(r?.credit_line);
      s.durableHeld = big(r?.held);
    }
  }

  async available(accountId: string): Promise<bigint> {
    return free(await this.ensure(accountId));
  }

  /** Reserves `amount` if the account can commit it. */
  async reserve(accountId: string, amount: bigint): Promise<boolean> {
    await this.prepare(accountId);
    if (this.room(accountId) < amount) return false;
    this.hold(accountId, amount);
    return true;
  }

  /** Loads (or refreshes) the account's figures; `room` and `hold` may then run at once. */
  async prepare(accountId: string): Promise<void> {
    await this.ensure(accountId);
  }

  /** True when the account's figures are loaded and fresh: `room` and `hold` may run without `prepare`. */
  ready(accountId: string): boolean {
    const s = this.accounts.get(accountId);
    return s !== undefined && !s.stale && !s.loading && !this.expired(s);
  }

  /** Loaded longer ago than `refreshMs`: read again before it is trusted. */
  private expired(s: AccountMoneyState): boolean {
    return this.rt.now() - s.loadedAt > this.refreshMs;
  }

  /** What the account can commit now (after prepare). */
  room(accountId: string): bigint {
    return free(this.accounts.get(accountId)!);
  }

  hold(accountId: string, amount: bigint): void {
    this.accounts.get(accountId)!.held += amount;
  }

  /** The request settled: its hold is released and `charge` (≤ hold) awaits the writer. */
  settle(accountId: string, hold: bigint, charge: bigint): void {
    const s = this.accounts.get(accountId);
    if (!s) return;
    s.held -= hold;
    s.unflushed += charge;
  }

  /** The writer committed charges; `durableAfter` is the account's balance as of that commit. */
  committed(accountId: string, charged: bigint, durableAfter: bigint): void {
    const s = this.accounts.get(accountId);
    if (!s) return;
    s.unflushed -= charged;
    s.durable = durableAfter;
    s.version++;
  }

  /** The writer failed for good: the charges will never land, stop counting them. */
  dropped(accountId: string, charged: bigint): void {
    const s = this.accounts.get(accountId);
    if (s) s.unflushed -= charged;
  }

  snapshot(accountId: string): { durable: bigint; held: bigint; unflushed: bigint } | undefined {
    const s = this.accounts.get(accountId);
    return s ? { durable: s.durable, held: s.held, unflushed: s.unflushed } : undefined;
  }
}
