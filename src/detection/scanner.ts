import type { Runtime } from '../kernel/context.ts';
import type { BillableUsage } from '../providers/types.ts';
import type { Outcome } from '../requests/outcomes.ts';
import { big, json, num, optNum, optStr, str, type Queryable, type Row } from '../storage/port.ts';
import { loadRuleContext } from './context.ts';
import { prefilter, type Prefilter } from './prefilter.ts';
import { storeCandidates } from './findings.ts';
import { RULES } from './rules/index.ts';
import type { Candidate, HoldFacts, HoldRule, RowRule, RuleContext, ScanRow } from './rules/types.ts';
import { detectionSettings, type DetectionSettings } from './settings.ts';

// The scanner runs the rules over the request log: a window on demand (`surety findings scan
// --from --to`), or continuously in the server from a checkpoint. It reads charged rows in pages
// ordered by ended_at (a page never splits one millisecond, so rows stored twice stay together),
// runs every enabled rule on each page and stores the findings and the checkpoint in one
// transaction per page: a restart resumes at the last page committed, and a page scanned twice —
// after a restart, by the overlap of the next run, or by two scanners at once — finds the same
// findings, which storage keeps once (their ids derive from rule and evidence).

const ROW_COLUMNS = 'id, account_id, key_id, model, endpoint, started_at, first_byte_at, ended_at, duration_ms, stream, status, outcome, usage_billable, price_version, hold_amount, amount, delivered, client_ref';
const R_COLUMNS = ROW_COLUMNS.split(', ').map((c) => `r.${c}`).join(', ');
export const PAGE_ROWS = 10_000;
export const SCANNER_CHECKPOINT = 'scanner';

export function toScanRow(r: Row): ScanRow {
  return {
    id: str(r.id),
    account_id: optStr(r.account_id),
    key_id: optStr(r.key_id),
    model: optStr(r.model),
    endpoint: str(r.endpoint),
    started_at: num(r.started_at),
    first_byte_at: optNum(r.first_byte_at),
    ended_at: num(r.ended_at),
    duration_ms: num(r.duration_ms),
    stream: num(r.stream) === 1,
    status: num(r.status),
    outcome: str(r.outcome) as Outcome,
    usage_billable: json<BillableUsage | null>(r.usage_billable, null),
    price_version: optNum(r.price_version),
    hold_amount: big(r.hold_amount),
    amount: big(r.amount),
    delivered: json<Record<string, unknown> | null>(r.delivered, null),
    client_ref: optStr(r.client_ref),
  };
}

export interface Rules {
  rows: RowRule[];
  holds: HoldRule[];
}

export function enabledRules(s: DetectionSettings): Rules {
  const on = RULES.filter((r) => !s.disabled_rules.includes(r.name));
  return { rows: on.filter((r): r is RowRule => r.on === 'rows'), holds: on.filter((r): r is HoldRule => r.on === 'holds') };
}

/** Every enabled row rule over some rows (pure). `neighbours` are other charged rows double_charge compares with. */
export function judgeRows(rules: RowRule[], rows: readonly ScanRow[], ctx: RuleContext, neighbours: readonly ScanRow[] = []): Candidate[] {
  const out: Candidate[] = [];
  for (const rule of rules) out.push(...rule.check(rule.name === 'double_charge' && neighbours.length > 0 ? [...rows, ...neighbours] : rows, ctx));
  return out;
}

/** Charged rows elsewhere in the log that share a client reference with these (a retry sent later). */
async function neighboursOf(q: Queryable, rows: readonly ScanRow[]): Promise<ScanRow[]> {
  const refs = [...new Set(rows.filter((r) => r.client_ref !== null).map((r) => r.client_ref!))];
  const ids = new Set(rows.map((r) => r.id));
  const out: ScanRow[] = [];
  for (let i = 0; i < refs.length; i += 500) {
    const chunk = refs.slice(i, i + 500);
    const found = await q.all(`SELECT ${ROW_COLUMNS} FROM request_log WHERE client_ref IN (${chunk.map(() => '?').join(', ')}) AND amount > 0`, chunk);
    for (const r of found) if (!ids.has(str(r.id))) out.push(toScanRow(r));
  }
  return out;
}

export interface ScanStats {
  from: number;
  to: number;
  /** Request-log rows in the window: what the scan covered. */
  rows: number;
  /** Of them, the rows the prefilter passed to the rules (uncharged rows cannot be wrong charges). */
  judged: number;
  pages: number;
  findings: number;
  created: number;
  ms: number;
}

export interface ScanOptions {
  /** Stores the position reached after each page under this name (the continuous scan). */
  checkpoint?: string;
  pageRows?: number;
  onProgress?: (s: ScanStats) => void;
  /** Stops after this many pages (tests: a scan interrupted by a restart). */
  maxPages?: number;
  /** The SQL prefilter (default on); off, every charged row is parsed and judged (tests compare). */
  prefilter?: boolean;
}

/** One page: charged rows (the prefilter's suspects) from `cursor`, never splitting a millisecond; the next cursor. */
async function readPage(rt: Pick<Runtime, 'db'>, pf: Prefilter | null, cursor: number, to: number, n: number): Promise<{ rows: ScanRow[]; next: number }> {
  const from = `FROM request_log r ${pf?.join ?? ''} WHERE`;
  const suspect = pf ? ` AND ${pf.where}` : '';
  const raw = await rt.db.all(`SELECT ${R_COLUMNS} ${from} r.ended_at >= ? AND r.ended_at < ? AND r.amount > 0${suspect} ORDER BY r.ended_at LIMIT ?`, [cursor, to, n]);
  if (raw.length < n) return { rows: raw.map(toScanRow), next: to };
  const last = num(raw[raw.length - 1]!.ended_at);
  if (num(raw[0]!.ended_at) === last) {
    // A whole page in one millisecond: take that millisecond entire.
    const all = await rt.db.all(`SELECT ${R_COLUMNS} ${from} r.ended_at = ? AND r.amount > 0${suspect}`, [last]);
    return { rows: all.map(toScanRow), next: last + 1 };
  }
  const rows: ScanRow[] = [];
  for (const r of raw) if (num(r.ended_at) < last) rows.push(toScanRow(r));
  return { rows, next: last };
}

/** Scans request-log rows that ended in [from, to), and the holds, with the enabled rules. */
export async function scanWindow(rt: Pick<Runtime, 'db' | 'now'>, from: number, to: number, opts: ScanOptions = {}): Promise<ScanStats> {
  const t0 = performance.now();
  const settings = await detectionSettings(rt);
  const ctx = await loadRuleContext(rt, settings);
  const rules = enabledRules(settings);
  const stats: ScanStats = { from, to, rows: 0, judged: 0, pages: 0, findings: 0, created: 0, ms: 0 };
  const pf = opts.prefilter === false ? null : prefilter(rt.db.engine, ctx.facts);
  let cursor = from;
  while (cursor < to && (opts.maxPages === undefined || stats.pages < opts.maxPages)) {
    const { rows, next } = await readPage(rt, pf, cursor, to, opts.pageRows ?? PAGE_ROWS);
    const neighbours = rules.rows.some((r) => r.name === 'double_charge') ? await neighboursOf(rt.db, rows) : [];
    const found = judgeRows(rules.rows, rows, ctx, neighbours);
    const now = rt.now();
    const stored = await rt.db.tx(async (q) => {
      const s = await storeCandidates(q, found, now);
      if (opts.checkpoint) await saveCheckpoint(q, opts.checkpoint, next, rows.length, now);
      return s;
    });
    stats.judged += rows.length;
    stats.rows += num((await rt.db.get('SELECT COUNT(*) AS n FROM request_log WHERE ended_at >= ? AND ended_at < ?', [cursor, next]))?.n);
    stats.pages++;
    stats.findings += found.length;
    stats.created += stored.created;
    cursor = next;
    stats.ms = performance.now() - t0;
    opts.onProgress?.({ ...stats });
  }
  if (rules.holds.length > 0) {
    const holds = await staleHoldCandidates(rt, rules.holds, ctx);
    const s = await rt.db.tx((q) => storeCandidates(q, holds, rt.now()));
    stats.findings += holds.length;
    stats.created += s.created;
  }
  stats.ms = performance.now() - t0;
  return stats;
}

async function staleHoldCandidates(rt: Pick<Runtime, 'db'>, rules: HoldRule[], ctx: RuleContext): Promise<Candidate[]> {
  const rows = await rt.db.all("SELECT * FROM holds WHERE (status = 'open' AND expires_at < ?) OR (status = 'posted' AND settled_at > expires_at)", [ctx.now - ctx.staleHoldGraceMs]);
  const holds: HoldFacts[] = rows.map((r) => ({
    id: str(r.id), account_id: str(r.account_id), amount: big(r.amount), posted: big(r.posted), status: str(r.status),
    created_at: num(r.created_at), expires_at: num(r.expires_at), settled_at: optNum(r.settled_at),
  }));
  return rules.flatMap((rule) => rule.check(holds, ctx));
}

// ---- the checkpoint of the continuous scan ----

async function saveCheckpoint(q: Queryable, name: string, position: number, rows: number, now: number): Promise<void> {
  // Never backwards: two scanners at once each move it only forward.
  await q.run(
    `INSERT INTO detection_checkpoints (name, position, rows_scanned, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET position = CASE WHEN excluded.position > detection_checkpoints.position THEN excluded.position ELSE detection_checkpoints.position END,
       rows_scanned = detection_checkpoints.rows_scanned + excluded.rows_scanned, updated_at = excluded.updated_at`,
    [name, position, rows, now],
  );
}

export async function checkpoint(q: Queryable, name = SCANNER_CHECKPOINT): Promise<{ position: number; rows_scanned: number; updated_at: number } | null> {
  const r = await q.get('SELECT * FROM detection_checkpoints WHERE name = ?', [name]);
  return r ? { position: num(r.position), rows_scanned: num(r.rows_scanned), updated_at: num(r.updated_at) } : null;
}

/**
 * One run of the continuous scan: from the checkpoint (less the overlap, for rows that landed
 * late) to now less the lag (rows still being written), page by page, checkpointed.
 */
export async function scanIncremental(rt: Pick<Runtime, 'db' | 'now'>, opts: Omit<ScanOptions, 'checkpoint'> = {}): Promise<ScanStats> {
  const s = await detectionSettings(rt);
  const cp = await checkpoint(rt.db);
  const to = rt.now() - s.scan_lag_seconds * 1000;
  const from = cp === null ? 0 : Math.max(0, cp.position - s.scan_overlap_seconds * 1000);
  return scanWindow(rt, from, Math.max(from, to), { ...opts, checkpoint: SCANNER_CHECKPOINT });
}
