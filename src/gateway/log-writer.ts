import { newId } from '../ids.ts';
import { applyBookDeltas, chargeEntries, lockAccount, type Entry } from '../billing/ledger.ts';
import type { Runtime } from '../services/context.ts';
import { insertMany } from '../storage/batch.ts';
import type { SqlValue } from '../storage/db.ts';
import type { Balances } from './balances.ts';
import { spendPeriods } from './limits.ts';
import type { Outcome } from './outcomes.ts';

// Group commit of the hot path: each settled request's log row and its charge (journal
// transaction + entries + book balances + key spend) are written together in ONE database
// transaction per batch, off the request path. A row and its charge cannot be split: they are in
// the same batch and the same transaction. Flushes every `flushMs` or at `maxBatch` rows.

export interface RequestLogRow {
  id: string;
  account_id: string | null;
  key_id: string | null;
  member_id: string | null;
  endpoint: string;
  protocol: string;
  model: string | null;
  upstream_model: string | null;
  channel_id: string | null;
  attempts: unknown[];
  started_at: number;
  first_byte_at: number | null;
  ended_at: number;
  duration_ms: number;
  stream: boolean;
  status: number;
  outcome: Outcome;
  error_code: string | null;
  error: string | null;
  usage_raw: unknown;
  usage_billable: unknown;
  usage_estimated: boolean;
  price_version: number | null;
  hold_amount: bigint;
  amount: bigint;
  tx_id: string | null;
  delivered: unknown;
  client_ip: string | null;
}

export const LOG_COLUMNS = [
  'id', 'account_id', 'key_id', 'member_id', 'endpoint', 'protocol', 'model', 'upstream_model', 'channel_id', 'attempts', 'started_at', 'first_byte_at',
  'ended_at', 'duration_ms', 'stream', 'status', 'outcome', 'error_code', 'error', 'usage_raw', 'usage_billable', 'usage_estimated', 'price_version',
  'hold_amount', 'amount', 'tx_id', 'delivered', 'client_ip',
] as const;

const j = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

function rowValues(r: RequestLogRow): SqlValue[] {
  return [
    r.id, r.account_id, r.key_id, r.member_id, r.endpoint, r.protocol, r.model, r.upstream_model, r.channel_id, j(r.attempts), r.started_at, r.first_byte_at,
    r.ended_at, r.duration_ms, r.stream ? 1 : 0, r.status, r.outcome, r.error_code, r.error, j(r.usage_raw), j(r.usage_billable), r.usage_estimated ? 1 : 0,
    r.price_version, r.hold_amount, r.amount, r.tx_id, j(r.delivered), r.client_ip,
  ];
}

export interface WriterStats {
  queued: number;
  flushed: number;
  batches: number;
  failures: number;
  lastError: string | null;
}

export class LogWriter {
  private queue: RequestLogRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly rt: Runtime;
  private readonly balances: Balances;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private backoffMs = 0;
  private consecutiveFailures = 0;
  readonly stats: WriterStats = { queued: 0, flushed: 0, batches: 0, failures: 0, lastError: null };
  /** Called after each committed batch (metrics, tests). */
  onCommit: ((rows: RequestLogRow[]) => void) | null = null;

  constructor(rt: Runtime, balances: Balances, opts: { flushMs?: number; maxBatch?: number; maxQueue?: number } = {}) {
    this.rt = rt;
    this.balances = balances;
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

  get pending(): number {
    return this.queue.length;
  }

  push(row: RequestLogRow): void {
    this.queue.push(row);
    this.stats.queued++;
    if (this.queue.length >= this.maxBatch && !this.flushing) void this.flush();
    else if (!this.timer && !this.flushing) this.timer = setTimeout(() => void this.flush(), this.flushMs + this.backoffMs);
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
    this.flushing = this.write(batch)
      .then(
        () => {
          this.backoffMs = 0;
          this.consecutiveFailures = 0;
          this.stats.flushed += batch.length;
          this.stats.batches++;
          this.onCommit?.(batch);
        },
        (err) => {
          // Keep the batch, in order, and try again later: nothing is lost while the process lives.
          this.queue.unshift(...batch);
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
          this.timer = setTimeout(() => void this.flush(), this.queue.length >= this.maxBatch ? 0 : this.flushMs + this.backoffMs);
        }
      });
    return this.flushing;
  }

  private async write(batch: RequestLogRow[]): Promise<void> {
    const { db } = this.rt;
    const committed = new Map<string, { charged: bigint; after: bigint }>();
    await db.tx(async (q) => {
      const charged = batch.filter((r) => r.amount > 0n && r.account_id);
      const txRows: SqlValue[][] = [];
      const entryRows: SqlValue[][] = [];
      const bookDelta = new Map<string, bigint>();
      const spend = new Map<string, bigint>();
      if (charged.length > 0) {
        const ids = [...new Set(charged.map((r) => r.account_id!))].sort();
        const state = new Map<string, { paid: bigint; granted: bigint; order: 'granted_first' | 'paid_first' }>();
        for (const id of ids) {
          const m = await lockAccount(db, q, id);
          state.set(id, { paid: m.paid, granted: m.granted, order: m.spendOrder ?? this.rt.config.spendOrder });
        }
        // One journal transaction per account and batch ("usage"), covering its requests: each
        // row points at it (tx_id) and the transaction's amount is the sum of those rows' amounts
        // (`surety ledger verify` checks it). Far fewer ledger rows than one per request.
        const perAccount = new Map<string, RequestLogRow[]>();
        for (const r of charged) {
          let list = perAccount.get(r.account_id!);
          if (!list) perAccount.set(r.account_id!, (list = []));
          list.push(r);
          if (r.key_id) {
            const p = spendPeriods(r.ended_at);
            for (const period of [p.day, p.month, p.total]) {
              const k = `${r.key_id}\u0000${period}`;
              spend.set(k, (spend.get(k) ?? 0n) + r.amount);
            }
          }
        }
        for (const [accountId, rows] of perAccount) {
          const s = state.get(accountId)!;
          let total = 0n;
          for (const r of rows) total += r.amount;
          const at = rows[rows.length - 1]!.ended_at;
          const txId = newId('tx', at);
          for (const r of rows) r.tx_id = txId;
          const keys = new Set(rows.map((r) => r.key_id));
          const actor = keys.size === 1 && rows[0]!.key_id ? `key:${rows[0]!.key_id}` : 'gateway';
          txRows.push([txId, 'usage', accountId, total, `${rows.length} request${rows.length === 1 ? '' : 's'}`, 'requests', rows.length === 1 ? rows[0]!.id : null, actor, at]);
          const entries: Entry[] = chargeEntries(accountId, total, s, s.order).filter((e) => e.amount !== 0n);
          for (const e of entries) {
            entryRows.push([txId, e.book, e.amount]);
            bookDelta.set(e.book, (bookDelta.get(e.book) ?? 0n) + e.amount);
            if (e.book.endsWith(':paid')) s.paid += e.amount;
            else if (e.book.endsWith(':granted')) s.granted += e.amount;
          }
          committed.set(accountId, { charged: total, after: s.paid + s.granted });
        }
        await insertMany(q, db.engine, 'ledger_tx', ['id', 'kind', 'account_id', 'amount', 'memo', 'ref_type', 'ref_id', 'actor', 'created_at'], txRows);
        await insertMany(q, db.engine, 'ledger_entries', ['tx_id', 'book', 'amount'], entryRows);
        await applyBookDeltas(q, bookDelta, batch[batch.length - 1]!.ended_at);
        for (const [k, amount] of [...spend].sort(([a], [b]) => (a < b ? -1 : 1))) {
          const [keyId, period] = k.split('\u0000');
          await q.run(
            'INSERT INTO key_spend (key_id, period, amount) VALUES (?, ?, ?) ON CONFLICT (key_id, period) DO UPDATE SET amount = key_spend.amount + excluded.amount',
            [keyId!, period!, amount],
          );
        }
      }
      await insertMany(q, db.engine, 'request_log', LOG_COLUMNS, batch.map(rowValues));
    });
    for (const [accountId, c] of committed) this.balances.committed(accountId, c.charged, c.after);
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
          for (const r of this.queue) if (r.account_id && r.amount > 0n) this.balances.dropped(r.account_id, r.amount);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (this.timer) clearTimeout(this.timer);
  }
}

