import { newId } from '../kernel/ids.ts';
import { INT64_MAX } from '../kernel/money.ts';
import { postUsage, type UsagePosted } from '../billing/journal.ts';
import type { Runtime } from '../kernel/context.ts';
import { insertMany } from '../storage/batch.ts';
import type { SqlValue } from '../storage/port.ts';
import type { Balances } from '../billing/balances.ts';
import { spendPeriods } from '../gateway/limits.ts';
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

/** How each column is stored; rows are normalised against this before they are queued. */
type ColumnKind = 'text' | 'int' | 'bool' | 'json' | 'money';

export const LOG_COLUMN_KINDS = {
  id: 'text', account_id: 'text', key_id: 'text', member_id: 'text', endpoint: 'text', protocol: 'text', model: 'text', upstream_model: 'text',
  channel_id: 'text', attempts: 'json', started_at: 'int', first_byte_at: 'int', ended_at: 'int', duration_ms: 'int', stream: 'bool', status: 'int',
  outcome: 'text', error_code: 'text', error: 'text', usage_raw: 'json', usage_billable: 'json', usage_estimated: 'bool', price_version: 'int',
  hold_amount: 'money', amount: 'money', tx_id: 'text', delivered: 'json', client_ip: 'text',
} as const satisfies Record<keyof RequestLogRow, ColumnKind>;

export const LOG_COLUMNS = Object.keys(LOG_COLUMN_KINDS) as Array<keyof RequestLogRow>;
const NOT_NULL: ReadonlySet<string> = new Set(['id', 'endpoint', 'protocol', 'started_at', 'ended_at', 'duration_ms', 'status', 'outcome', 'hold_amount', 'amount']);

/** A text both engines store: no NUL (PostgreSQL refuses it), at most `max` characters. */
function storableText(v: string, max = 10_000): string {
  const t = v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
  return t.length > max ? t.slice(0, max) : t;
}

function storableJson(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  try {
    const s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
    return s === undefined ? null : s;
  } catch {
    return null;
  }
}

/**
 * Makes a row storable in place and names what it had to change. A value of the wrong type (an
 * undefined client IP from a half-closed socket, a NaN, a NUL byte in a model name) is replaced by
 * what can be stored, so that one bad row can never fail the batch it is in.
 */
export function normaliseRow(r: RequestLogRow): string[] {
  const problems: string[] = [];
  const row = r as unknown as Record<string, unknown>;
  for (const col of LOG_COLUMNS) {
    const kind = LOG_COLUMN_KINDS[col];
    const v = row[col];
    let x: unknown = v;
    if (kind === 'text') {
      if (typeof v === 'string') x = storableText(v);
      else x = v === null || v === undefined ? null : storableText(String(v));
    } else if (kind === 'int') {
      x = typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
    } else if (kind === 'money') {
      x = typeof v === 'bigint' && v >= 0n && v <= INT64_MAX ? v : null;
    } else if (kind === 'bool') {
      x = v === true;
    }
    if (x === null && NOT_NULL.has(col)) x = kind === 'text' ? '' : kind === 'money' ? 0n : 0;
    if (x !== v && !(x === null && v === undefined && !NOT_NULL.has(col))) problems.push(`${col}: ${typeof v === 'string' ? 'not storable as given' : String(v)}`);
    row[col] = x;
  }
  return problems;
}

function rowValues(r: RequestLogRow): SqlValue[] {
  const row = r as unknown as Record<string, unknown>;
  return LOG_COLUMNS.map((col) => {
    const kind = LOG_COLUMN_KINDS[col];
    const v = row[col];
    if (kind === 'json') return storableJson(v);
    if (kind === 'bool') return v ? 1 : 0;
    return (v ?? null) as SqlValue;
  });
}

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
    const landed = { rows: 0 };
    this.flushing = this.writeApart(batch, landed)
      .then(
        () => {
          this.backoffMs = 0;
          this.consecutiveFailures = 0;
          this.stats.flushed += batch.length;
          this.stats.batches++;
          this.onCommit?.(batch);
        },
        (err) => {
          // Keep what did not land, in order, and try again later: nothing is lost while the process lives.
          this.stats.flushed += landed.rows;
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
          this.timer = setTimeout(() => void this.flush(), this.queue.length >= this.maxBatch ? 0 : this.flushMs + this.backoffMs);
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
        const spend = new Map<string, bigint>();
        for (const r of charged) {
          if (!r.key_id) continue;
          const p = spendPeriods(r.ended_at);
          for (const period of [p.day, p.month, p.total]) {
            const k = `${r.key_id}\u0000${period}`;
            spend.set(k, (spend.get(k) ?? 0n) + r.amount);
          }
        }
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
    for (const [accountId, p] of posted) this.balances.committed(accountId, p.charged, p.balanceAfter);
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

