import { newId } from '../kernel/ids.ts';
import { postUsage, type UsagePosted } from '../billing/journal.ts';
import type { Runtime } from '../kernel/context.ts';
import { insertMany } from '../storage/batch.ts';
import { StorageUnavailable, type Queryable } from '../storage/port.ts';
import { spendPeriods } from '../gateway/limits.ts';
import { STORAGE_COLUMNS, normaliseRow, storageValues, type RequestRow } from './schema.ts';
import { addRollups } from './rollups.ts';
import { addTraffic } from './traffic.ts';

// Group commit of the hot path: each settled request's log row and its charge (journal
// transaction + entries + book balances + key spend) are written together in ONE database
// transaction per batch, off the request path. A row and its charge cannot be split: they are in
// the same batch and the same transaction. Flushes every `flushMs` or at `maxBatch` rows.

// Names kept for the batch writer below; the declaration is requests/schema.ts.
type RequestLogRow = RequestRow;
const LOG_COLUMNS = STORAGE_COLUMNS;
const rowValues = storageValues;

/**
 * A row reduced to what storage certainly accepts: identity, times, outcome and money are kept (a
 * charge is never separated from its row); free-form parts are dropped and the reason noted.
 */
function bareRow(r: RequestLogRow, err: Error): RequestLogRow {
  const safe = (v: string | null, n = 200) => (v === null ? null : v.replace(/[^\x20-\x7e]/g, '?').slice(0, n));
  return {
    ...r,
    model: safe(r.model),
    upstream_model: safe(r.upstream_model),
    attempts: [],
    usage_raw: null,
    delivered: null,
    client_ip: null,
    error_code: safe(r.error_code, 64),
    error: `row stored bare, storage refused it: ${safe(err.message, 300)}`,
  };
}

/** One charged request as the writer commits it. */
export interface CommittedCharge {
  accountId: string;
  keyId: string | null;
  amount: bigint;
  /** When the request ended (its key spend periods). */
  at: number;
}

/** Who keeps the data plane's view of account money in step with what the writer commits. */
export interface ChargeObserver {
  /** Inside the batch's transaction, its charges written, before COMMIT (shared quotas move them into their mirror). */
  committing?(charges: readonly CommittedCharge[]): Promise<void>;
  /** The transaction did not commit after `committing` ran: its charges are queued again. */
  notCommitted?(charges: readonly CommittedCharge[]): void;
  /** Committed: `balanceAfter` is the account's paid + granted as of that commit. */
  committed(accountId: string, charged: bigint, balanceAfter: bigint): void;
  /** The writer gave up on a charge for good (shutdown with storage down): stop counting it. */
  dropped(charge: CommittedCharge): void;
}

const chargeOfRow = (r: RequestLogRow): CommittedCharge => ({ accountId: r.account_id!, keyId: r.key_id, amount: r.amount, at: r.ended_at });

export interface WriterStats {
  queued: number;
  flushed: number;
  batches: number;
  failures: number;
  lastError: string | null;
}

/**
 * Faults for tests only, set on a writer instance in-process (nothing outside the process can
 * reach them): `duplicateCharge` makes the writer store a charged row twice — the same request
 * under a second id, charged again — as a broken writer or a replayed batch would; `overcharge`
 * charges a row more than its price.
 */
export interface WriterFaults {
  duplicateCharge?(row: Readonly<RequestRow>): boolean;
  /** Nano-USD added to a charged row's amount before it is written (a charge off its price). */
  overcharge?(row: Readonly<RequestRow>): bigint;
}

export class LogWriter {
  /** Test-only fault injection (see WriterFaults); null in production. */
  faults: WriterFaults | null = null;
  private queue: RequestLogRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly rt: Runtime;
  private readonly money: ChargeObserver;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private backoffMs = 0;
  private consecutiveFailures = 0;
  /** Strict durability: rows whose answer waits for their commit (true) or for good (false). */
  private readonly waiting = new Map<RequestLogRow, (committed: boolean) => void>();
  readonly stats: WriterStats = { queued: 0, flushed: 0, batches: 0, failures: 0, lastError: null };

  constructor(rt: Runtime, money: ChargeObserver, opts: { flushMs?: number; maxBatch?: number; maxQueue?: number } = {}) {
    this.rt = rt;
    this.money = money;
    this.flushMs = opts.flushMs ?? rt.config.flushMs;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxQueue = opts.maxQueue ?? 200_000;
  }

  /**
   * False when billable work must be refused: storage has failed several flushes in a row (the
   * backlog lives only in memory until it is back) or the backlog is full. Requests are then
   * refused as `platform_error` before anything is sent upstream; rows keep being retried.
   */
  get healthy(): boolean {
    return this.consecutiveFailures < 3 && this.queue.length < this.maxQueue;
  }

  /** What keeps the writer from landing rows, for /readyz; null when it is landing them. */
  problem(): string | null {
    if (this.healthy) return null;
    return `the request log cannot be written (${this.consecutiveFailures} failed flushes, ${this.queue.length} rows waiting): ${this.stats.lastError ?? 'backlog full'}`;
  }

  get pending(): number {
    return this.queue.length;
  }

  push(row: RequestLogRow): void {
    const problems = normaliseRow(row);
    if (problems.length > 0) this.rt.log.warn({ request_id: row.id, problems }, 'request log row repaired before queueing');
    if (this.faults?.overcharge && row.amount > 0n) row.amount += this.faults.overcharge(row);
    this.queue.push(row);
    this.stats.queued++;
    if (this.faults?.duplicateCharge && row.amount > 0n && this.faults.duplicateCharge(row)) this.queue.push({ ...row, id: newId('req', row.started_at) });
    if (this.queue.length >= this.maxBatch && !this.flushing) void this.flush();
    else if (!this.timer && !this.flushing) this.timer = setTimeout(() => void this.flush(), this.flushMs + this.backoffMs);
  }

  /**
   * Strict durability: resolves true once the batch holding `row` (already pushed) has committed,
   * false when the writer gave up on it (shutdown with storage down). Someone waits, so the writer
   * commits as soon as it is idle rather than after `flushMs`: whatever settles while one commit
   * runs forms the next batch (group commit), and no answer waits for a timer.
   */
  committedOf(row: RequestLogRow): Promise<boolean> {
    const done = new Promise<boolean>((resolve) => this.waiting.set(row, resolve));
    if (!this.flushing && this.backoffMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.flush(), 0);
    }
    return done;
  }

  /** Tells those waiting for these rows whether they committed. */
  private answer(rows: readonly RequestLogRow[], committed: boolean): void {
    if (this.waiting.size === 0) return;
    for (const r of rows) {
      const resolve = this.waiting.get(r);
      if (resolve) {
        this.waiting.delete(r);
        resolve(committed);
      }
    }
  }

  /** Writes everything queued so far (called by the timer, on size, and at shutdown). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue.splice(0, this.maxBatch);
    const landed = { rows: 0 };
    this.flushing = this.writeApart(batch, landed)
      .then(
        () => {
          this.backoffMs = 0;
          this.consecutiveFailures = 0;
          this.stats.flushed += batch.length;
          this.stats.batches++;
          this.answer(batch, true);
        },
        (err) => {
          // Keep what did not land, in order, and try again later: nothing is lost while the process lives.
          this.stats.flushed += landed.rows;
          this.answer(batch.slice(0, landed.rows), true);
          this.queue.unshift(...batch.slice(landed.rows));
          this.stats.failures++;
          this.consecutiveFailures++;
          this.stats.lastError = (err as Error).message;
          this.backoffMs = Math.min(5_000, Math.max(50, this.backoffMs * 2));
          this.rt.log.error({ err, rows: batch.length }, 'request log flush failed; will retry');
        },
      )
      .finally(() => {
        this.flushing = null;
        if (this.queue.length > 0 && !this.timer && !this.closed) {
          const now = this.queue.length >= this.maxBatch || (this.waiting.size > 0 && this.backoffMs === 0);
          this.timer = setTimeout(() => void this.flush(), now ? 0 : this.flushMs + this.backoffMs);
        }
      });
    return this.flushing;
  }

  /**
   * Writes a batch; when the database refuses it, writes its halves apart, and a single refused
   * row in its bare form (bareRow), so that one row can never hold back the others. Rows land in
   * order, so those that landed are always a prefix (`landed.rows`). When even a bare row is
   * refused, storage itself is failing: that error is thrown and the rest is retried later.
   */
  private async writeApart(batch: RequestLogRow[], landed: { rows: number }): Promise<void> {
    try {
      await this.write(batch);
      landed.rows += batch.length;
      return;
    } catch (err) {
      // Storage itself is failing: halves would fail alike; the whole batch is retried later.
      if (err instanceof StorageUnavailable) throw err;
      if (batch.length > 1) {
        const mid = batch.length >> 1;
        await this.writeApart(batch.slice(0, mid), landed);
        await this.writeApart(batch.slice(mid), landed);
        return;
      }
      const bare = bareRow(batch[0]!, err as Error);
      await this.write([bare]);
      this.rt.log.error({ err, request_id: bare.id }, 'request log row refused by storage; stored in its bare form');
      landed.rows += 1;
    }
  }

  private async write(batch: RequestLogRow[]): Promise<void> {
    const { db } = this.rt;
    let posted = new Map<string, UsagePosted>();
    const moved: { charges: CommittedCharge[] | null } = { charges: null };
    try {
      await db.tx(async (q) => {
        const charged = batch.filter((r) => r.amount > 0n && r.account_id);
        if (charged.length > 0) {
          // The journal writer posts one usage transaction per account (its checks, bulk inserts
          // and lock order); each charged row points at its account's transaction.
          posted = await postUsage(
            db,
            q,
            charged.map((r) => ({ accountId: r.account_id!, requestId: r.id, keyId: r.key_id, amount: r.amount, at: r.ended_at })),
            this.rt.config.spendOrder,
          );
          for (const r of charged) r.tx_id = posted.get(r.account_id!)!.txId;
          await addKeySpend(q, charged);
        }
        await insertMany(q, db.engine, 'request_log', LOG_COLUMNS, batch.map(rowValues));
        await addRollups(q, batch);
        if (charged.length > 0 && this.money.committing) {
          // Under the accounts' locks, so that nobody reloads these accounts in between.
          moved.charges = charged.map(chargeOfRow);
          await this.money.committing(moved.charges);
        }
        // Last: every instance's batches update the same few rows of a minute, whose locks are
        // then held only until COMMIT.
        await addTraffic(q, batch);
      });
    } catch (err) {
      if (moved.charges) this.money.notCommitted?.(moved.charges);
      throw err;
    }
    for (const [accountId, p] of posted) this.money.committed(accountId, p.charged, p.balanceAfter);
  }

  /** Flushes everything and stops (graceful shutdown). Retries for up to `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.flushing) {
      await this.flush();
      if (this.queue.length > 0 && this.stats.lastError) {
        if (Date.now() > deadline) {
          this.rt.log.error({ rows: this.queue.length }, 'shutdown: request log could not be flushed');
          for (const r of this.queue) if (r.account_id && r.amount > 0n) this.money.dropped(chargeOfRow(r));
          this.answer(this.queue, false);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Adds the batch's charges to each key's spend of the day, the month and in total. */
async function addKeySpend(q: Queryable, charged: readonly RequestLogRow[]): Promise<void> {
  const spend = new Map<string, bigint>();
  for (const r of charged) {
    if (!r.key_id) continue;
    const p = spendPeriods(r.ended_at);
    for (const period of [p.day, p.month, p.total]) {
      const k = `${r.key_id}\u0000${period}`;
      spend.set(k, (spend.get(k) ?? 0n) + r.amount);
    }
  }
  // One statement per 300 counters (in key order, the lock order), not one round trip each: under
  // load every round trip waits behind the event loop, and a batch touches 3 counters per key.
  const rows = [...spend].sort(([a], [b]) => (a < b ? -1 : 1));
  for (let i = 0; i < rows.length; i += 300) {
    const part = rows.slice(i, i + 300);
    const params = part.flatMap(([k, amount]) => [...k.split('\u0000'), amount]);
    await q.run(
      `INSERT INTO key_spend (key_id, period, amount) VALUES ${part.map(() => '(?, ?, ?)').join(', ')} ON CONFLICT (key_id, period) DO UPDATE SET amount = key_spend.amount + excluded.amount`,
      params,
    );
  }
}
