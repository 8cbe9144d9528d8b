import type { Runtime } from '../kernel/context.ts';
import type { BillableUsage } from '../providers/types.ts';
import type { Outcome } from '../requests/outcomes.ts';
import { big, json, num, optNum, optStr, str, type Queryable, type Row, type SqlValue } from '../storage/port.ts';
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

const ROW_COLUMNS = 'id, account_id, key_id, model, endpoint, started_at, first_byte_at, ended_at, duration_ms, stream, status, outcome, usage_billable, price_version, hold_amount, amount, delivered, client_ref, attempts';
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
    attempts: r.attempts === null || r.attempts === undefined ? null : typeof r.attempts === 'string' ? r.attempts : JSON.stringify(r.attempts),
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

/** Suspects (all charged rows without a prefilter) read from `cursor`: at most `n`, and more only to end on a whole millisecond; the next cursor. */
async function readSuspects(rt: Pick<Runtime, 'db'>, from: string, where: string, params: readonly SqlValue[], cursor: number, to: number, n: number): Promise<{ raw: Row[]; next: number }> {
  const raw = await rt.db.all(`SELECT ${R_COLUMNS} ${from} r.ended_at >= ? AND r.ended_at < ? AND r.amount > 0${where} ORDER BY r.ended_at LIMIT ?`, [cursor, to, ...params, n]);
  if (raw.length < n) return { raw, next: to };
  const last = num(raw[raw.length - 1]!.ended_at);
  // A whole page in one millisecond: take that millisecond entire.
  if (num(raw[0]!.ended_at) === last) return { raw: await rt.db.all(`SELECT ${R_COLUMNS} ${from} r.ended_at = ? AND r.amount > 0${where}`, [last, ...params]), next: last + 1 };
  return { raw: raw.filter((r) => num(r.ended_at) < last), next: last };
}

/** Rows in [from, to), and (`ms`) their distinct milliseconds: two passes over the ended_at index (cheaper than grouping by millisecond). */
async function countPage(rt: Pick<Runtime, 'db'>, from: number, to: number, ms: boolean): Promise<{ rows: number; ms: number }> {
  if (!ms) return { rows: num((await rt.db.get('SELECT COUNT(*) AS n FROM request_log WHERE ended_at >= ? AND ended_at < ?', [from, to]))?.n), ms: 0 };
  // PostgreSQL: one pass (its two passes read the rows twice, and the DISTINCT hashed 10 MB to disk at 100,000 rows: 370 against 220 ms, cold).
  const r = rt.db.engine === 'postgres' ? await rt.db.get('SELECT COUNT(*) AS n, COUNT(DISTINCT ended_at) AS ms FROM request_log WHERE ended_at >= ? AND ended_at < ?', [from, to]) : await rt.db.get(
    `SELECT (SELECT COUNT(*) FROM request_log WHERE ended_at >= ? AND ended_at < ?) AS n,
       (SELECT COUNT(*) FROM (SELECT DISTINCT ended_at FROM request_log WHERE ended_at >= ? AND ended_at < ?) d) AS ms`,
    [from, to, from, to],
  );
  return { rows: num(r?.n), ms: num(r?.ms) };
}

/**
 * Above this share of rows that end in a millisecond another row ended in (rows less distinct
 * milliseconds, over rows), readPage checks every row for the same request stored twice, as part of
 * the prefilter: under such traffic the separate look (index passes, then the crowded rows read
 * again) costs more than the lookup it spares (valgrind, 100,000 bench rows: 28 % less SQLite work
 * with one row a millisecond, 28 % more with two).
 */
export const CROWDED = 0.2;

/** How many rows from the cursor tell how busy the traffic is (one pass over so many entries of the ended_at index). */
const SAMPLE = 2000;

/**
 * Whether, of the first SAMPLE rows from `from`, more than CROWDED end in a millisecond another row ended in.
 * The first SAMPLE rows from `from`, then those before `to`: the same rows as the first SAMPLE of
 * [from, to), but a plan PostgreSQL cannot get wrong — with the upper bound inside and no
 * statistics on the log yet, it estimated a few hundred rows in the range, read all of them
 * (bitmap scan) and sorted them to keep 2,000: 212 against 1 ms at 100,000 rows.
 */
async function crowdedAt(rt: Pick<Runtime, 'db'>, from: number, to: number): Promise<boolean> {
  const r = await rt.db.get(
    'SELECT COUNT(*) AS n, COUNT(DISTINCT ended_at) AS ms FROM (SELECT ended_at FROM request_log WHERE ended_at >= ? ORDER BY ended_at LIMIT ?) s WHERE ended_at < ?',
    [from, SAMPLE, to],
  );
  return num(r?.n) - num(r?.ms) > num(r?.n) * CROWDED;
}

interface Page {
  rows: ScanRow[];
  next: number;
  /** Request-log rows in [cursor, next). */
  scanned: number;
}

/**
 * One page: charged rows (the prefilter's suspects) from `cursor`, never splitting a millisecond;
 * the next cursor and the rows the page covered. The same request stored twice (prefilter
 * sameRequest) shares its millisecond, and a page never splits one: unless `inline` (busy traffic,
 * where most milliseconds hold several rows), the prefilter's `where` alone bounds the page, and
 * the rows are checked for it only in the milliseconds of the page that hold more than one row
 * (crowdedAt looks at the traffic where the page starts).
 * Either way the suspects are the same.
 */
async function readPage(rt: Pick<Runtime, 'db'>, pf: Prefilter | null, cursor: number, to: number, n: number): Promise<Page> {
  const inline = pf !== null && (await crowdedAt(rt, cursor, to));
  const from = `FROM request_log r ${pf?.join ?? ''} WHERE`;
  const where = pf === null ? '' : inline ? ` AND (${pf.where} OR ${pf.sameRequest})` : ` AND ${pf.where}`;
  let { raw, next } = await readSuspects(rt, from, where, [], cursor, to, n);
  const split = pf !== null && !inline;
  let counted = await countPage(rt, cursor, next, split);
  if (pf && split && counted.rows > counted.ms) {
    // Rows of the page's crowded milliseconds that the same request stored twice could explain, at most n (and whole milliseconds) more.
    const crowded = 'SELECT ended_at FROM request_log WHERE ended_at >= ? AND ended_at < ? GROUP BY ended_at HAVING COUNT(*) > 1';
    const twice = await readSuspects(rt, 'FROM request_log r WHERE', ` AND r.ended_at IN (${crowded}) AND ${pf.sameRequest}`, [cursor, next], cursor, next, n);
    if (twice.next < next) {
      // So many that they end the page sooner.
      next = twice.next;
      raw = raw.filter((r) => num(r.ended_at) < next);
      counted = await countPage(rt, cursor, next, false);
    }
    const ids = new Set(raw.map((r) => str(r.id)));
    const more = twice.raw.filter((r) => !ids.has(str(r.id)));
    if (more.length > 0) raw = [...raw, ...more].sort((a, b) => num(a.ended_at) - num(b.ended_at));
  }
  return { rows: raw.map(toScanRow), next, scanned: counted.rows };
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
    const { rows, next, scanned } = await readPage(rt, pf, cursor, to, opts.pageRows ?? PAGE_ROWS);
    const neighbours = rules.rows.some((r) => r.name === 'double_charge') ? await neighboursOf(rt.db, rows) : [];
    const found = judgeRows(rules.rows, rows, ctx, neighbours);
    const now = rt.now();
    const stored = await rt.db.tx(async (q) => {
      const s = await storeCandidates(q, found, now, null, rt.db.engine);
      if (opts.checkpoint) await saveCheckpoint(q, opts.checkpoint, next, rows.length, now);
      return s;
    });
    stats.judged += rows.length;
    stats.rows += scanned;
    stats.pages++;
    stats.findings += found.length;
    stats.created += stored.created;
    cursor = next;
    stats.ms = performance.now() - t0;
    opts.onProgress?.({ ...stats });
  }
  if (rules.holds.length > 0) {
    const holds = await staleHoldCandidates(rt, rules.holds, ctx);
    const s = await rt.db.tx((q) => storeCandidates(q, holds, rt.now(), null, rt.db.engine));
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
