import type { Queryable, SqlValue } from '../storage/port.ts';
import type { Outcome } from '../requests/outcomes.ts';
import { EXCLUSION_REASONS, FULL, type Compiled, type ExclusionReason } from './terms.ts';
import { MINUTE, localDay, type Window } from './periods.ts';

// Measuring one segment of a contract (a window under one version's terms) from the per-minute
// rollups (requests/rollups.ts). Every covered request of every minute is classified once, in
// this order: in announced maintenance → excluded `maintenance`; a beta model → `beta_model`;
// else by its outcome (the terms' outcome table: good, failed, or an exclusion reason).
//
// Request-based: per interval (5 minutes by default, aligned to the segment's start), error rate
// = failed ÷ eligible (eligible = good + failed), 0 when there was no eligible request; the
// availability is 100 % − the mean interval error rate over the measured intervals. Time-based:
// a minute is down when it had at least `min_requests` eligible requests and failed ÷ eligible ≥
// the threshold; availability = up minutes ÷ measured minutes. A minute wholly in maintenance is
// not measured (an interval is measured when any of its minutes is); availabilities are exact to
// the micro-percent (rounded half up there), and tiers compare those integers.

export interface MinuteCounts {
  from: number;
  minutes: number;
  /** Minutes per bucket: 1, or a whole interval when nothing inside the window needs minutes. */
  bucket: number;
  buckets: number;
  good: Uint32Array;
  failed: Uint32Array;
  excluded: Record<ExclusionReason, Uint32Array>;
  /** Covered spend (nano-USD) of each bucket (beta models excluded; maintenance included). */
  spend: BigInt64Array;
  maintenance: Uint8Array;
  byOutcome: Partial<Record<Outcome, number>>;
}

export interface Coverage {
  accountId: string;
  models: readonly string[] | null;
  endpoints: readonly string[] | null;
  keys: readonly string[] | null;
  betaModels: readonly string[];
}

function inList(column: string, values: readonly string[] | null, params: SqlValue[]): string {
  if (values === null) return '';
  if (values.length === 0) return ' AND 1 = 0';
  params.push(...values);
  return ` AND ${column} IN (${values.map(() => '?').join(', ')})`;
}

/**
 * Reads a window's rollups for the covered requests and classifies them, minute by minute — or,
 * for a request-based metric without maintenance in the window, interval by interval (the
 * database sums the minutes: a fifth of the rows to carry).
 */
export async function countMinutes(q: Queryable, c: Compiled, cov: Coverage, w: Window, maintenance: readonly Window[]): Promise<MinuteCounts> {
  const minutes = Math.max(0, Math.round((w.to - w.from) / MINUTE));
  const inWindow = maintenance.filter((x) => x.from < w.to && x.to > w.from);
  const bucket = c.thresholdMicro === null && inWindow.length === 0 ? c.intervalMinutes : 1;
  const buckets = Math.ceil(minutes / bucket);
  const excluded = Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, new Uint32Array(buckets)])) as Record<ExclusionReason, Uint32Array>;
  const m: MinuteCounts = { from: w.from, minutes, bucket, buckets, good: new Uint32Array(buckets), failed: new Uint32Array(buckets), excluded, spend: new BigInt64Array(buckets), maintenance: new Uint8Array(buckets), byOutcome: {} };
  for (const x of inWindow) {
    for (let i = Math.max(0, Math.floor((x.from - w.from) / MINUTE)); i < minutes && w.from + i * MINUTE < x.to; i++) m.maintenance[i] = 1;
  }
  const params: SqlValue[] = [];
  const isBeta = cov.betaModels.length ? `model IN (${cov.betaModels.map(() => '?').join(', ')})` : '1 = 0';
  params.push(...cov.betaModels, ...cov.betaModels, cov.accountId, w.from, w.to);
  const filters = inList('model', cov.models, params) + inList('endpoint', cov.endpoints, params) + inList('key_id', cov.keys, params);
  // By minute: a prefix of the primary key (account, minute, outcome), read in index order without a
  // sort. By interval: the bucket's number (integer division on both engines).
  const key = bucket === 1 ? 'minute' : '(minute - ?) / ?';
  const rows = await q.all<{ k: bigint; outcome: string; n: bigint; beta: bigint; amount: bigint }>(
    `SELECT ${key} AS k, outcome, CAST(SUM(requests) AS BIGINT) AS n, CAST(SUM(CASE WHEN ${isBeta} THEN requests ELSE 0 END) AS BIGINT) AS beta,
       CAST(SUM(CASE WHEN ${isBeta} THEN 0 ELSE amount END) AS BIGINT) AS amount
     FROM request_rollups WHERE account_id = ? AND minute >= ? AND minute < ?${filters}
     GROUP BY ${bucket === 1 ? 'minute, outcome' : '1, 2'}`,
    bucket === 1 ? params : [BigInt(w.from), BigInt(bucket * MINUTE), ...params],
  );
  for (const r of rows) {
    const i = bucket === 1 ? (Number(r.k) - w.from) / MINUTE : Number(r.k);
    const beta = Number(r.beta);
    const n = Number(r.n);
    if (n > beta) addRow(m, c, i, false, r.outcome as Outcome, n - beta, BigInt(r.amount));
    if (beta > 0) addRow(m, c, i, true, r.outcome as Outcome, beta, 0n);
  }
  return m;
}

function addRow(m: MinuteCounts, c: Compiled, i: number, beta: boolean, outcome: Outcome, n: number, amount: bigint): void {
  m.byOutcome[outcome] = (m.byOutcome[outcome] ?? 0) + n;
  if (!beta) m.spend[i]! += amount;
  const cls = m.maintenance[i] ? 'maintenance' : beta ? 'beta_model' : (c.outcomes[outcome] ?? 'good');
  if (cls === 'good') m.good[i]! += n;
  else if (cls === 'failed') m.failed[i]! += n;
  else m.excluded[cls][i]! += n;
}

export interface Interval {
  start: number;
  minutes: number;
  measured: boolean;
  eligible: number;
  failed: number;
  excluded: number;
  excludedBy: Record<ExclusionReason, number>;
  /** Request-based: failed ÷ eligible; time-based: 1 when the minute is down, else 0. */
  error: number;
  spend: bigint;
}

export interface Measured {
  /** Availability in micro-percent (100 % = 100,000,000), or null when nothing was measured. */
  availability: number | null;
  intervals: Interval[];
  measuredIntervals: number;
  downMinutes: number;
  eligible: number;
  failed: number;
  spend: bigint;
  byExclusion: Record<ExclusionReason, number>;
  byOutcome: Partial<Record<Outcome, number>>;
}

const sum = (a: Uint32Array, from: number, to: number) => {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]!;
  return s;
};

/** The intervals of the metric and the availability over them. */
export function measure(m: MinuteCounts, c: Compiled): Measured {
  const step = c.intervalMinutes;
  const per = step / m.bucket;
  const intervals: Interval[] = [];
  let errSum = 0;
  let measured = 0;
  let down = 0;
  for (let i = 0; i < m.buckets; i += per) {
    const j = Math.min(m.buckets, i + per);
    let spend = 0n;
    let open = false;
    for (let k = i; k < j; k++) (spend += m.spend[k]!), (open ||= m.maintenance[k] === 0);
    const good = sum(m.good, i, j);
    const failed = sum(m.failed, i, j);
    const eligible = good + failed;
    let excluded = 0;
    const excludedBy = {} as Record<ExclusionReason, number>;
    for (const r of EXCLUSION_REASONS) excluded += excludedBy[r] = sum(m.excluded[r], i, j);
    let error: number;
    if (c.thresholdMicro !== null) error = open && eligible >= c.minRequests && failed * FULL >= c.thresholdMicro * eligible ? 1 : 0;
    else error = eligible === 0 ? 0 : failed / eligible;
    if (open) (measured++, (errSum += error), (down += c.thresholdMicro !== null ? error : 0));
    intervals.push({ start: m.from + i * m.bucket * MINUTE, minutes: Math.min(step, m.minutes - i * m.bucket), measured: open, eligible, failed, excluded, excludedBy, error, spend });
  }
  const byExclusion = Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, sum(m.excluded[r], 0, m.buckets)])) as Record<ExclusionReason, number>;
  let availability: number | null = null;
  if (measured > 0) {
    // Time-based: exact integers (up × 10^8 ÷ measured); request-based: the mean of the rates.
    availability = c.thresholdMicro !== null ? Math.round(((measured - down) * FULL) / measured) : Math.round(FULL * (1 - errSum / measured));
  }
  return {
    availability,
    intervals,
    measuredIntervals: measured,
    downMinutes: down,
    eligible: sum(m.good, 0, m.buckets) + sum(m.failed, 0, m.buckets),
    failed: sum(m.failed, 0, m.buckets),
    spend: intervals.reduce((s, x) => s + x.spend, 0n),
    byExclusion,
    byOutcome: m.byOutcome,
  };
}

/** Availability per local day (the chart): the same rule over the intervals starting that day. */
export function daily(ms: ReadonlyArray<{ measured: Measured; timeBased: boolean }>, tz: string): Array<{ day: string; availability: number | null; eligible: number; failed: number }> {
  const days = new Map<string, { err: number; n: number; eligible: number; failed: number }>();
  for (const { measured } of ms) {
    for (const x of measured.intervals) {
      const d = localDay(x.start, tz);
      let e = days.get(d);
      if (!e) days.set(d, (e = { err: 0, n: 0, eligible: 0, failed: 0 }));
      e.eligible += x.eligible;
      e.failed += x.failed;
      if (x.measured) (e.n++, (e.err += x.error));
    }
  }
  return [...days].map(([day, e]) => ({ day, availability: e.n === 0 ? null : Math.round(FULL * (1 - e.err / e.n)), eligible: e.eligible, failed: e.failed }));
}
