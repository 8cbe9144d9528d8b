import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { iso, isoTime, parseInput } from '../kernel/validation.ts';
import { json, num, str, type Queryable, type Row } from '../storage/port.ts';
import { getContract, versionAt, type Contract } from './contracts.ts';
import { buildReport, reportView, type Report } from './report.ts';
import { compactSeries, type CompactSeries } from './intervals.ts';
import { incidentSource } from './incident-source.ts';
import type { IncidentSource } from './support.ts';
import { DAY, ceilMinute, periodOf, periodWindow, type Window } from './periods.ts';
import { formatUsd } from '../kernel/money.ts';

// Reading SLA figures: a live report for a period or any window, or a closed period's snapshot
// (never recomputed: what was closed is what is shown). Customers see only their own contracts.

export const ReportQuery = z
  .object({
    period: z.string().optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    format: z.enum(['json', 'csv', 'ndjson', 'html']).optional(),
    series: z.enum(['0', '1', 'true', 'false']).optional(),
  })
  .strict();
export type ReportQuery = z.infer<typeof ReportQuery>;

/** The time zone a month is measured in: the one of the version in force in the middle of that month. */
export function periodZone(c: Contract, period: string): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return versionAt(c, Date.UTC(y, m - 1, 15)).terms.time_zone;
}

export function windowOfPeriod(c: Contract, period: string): Window {
  return periodWindow(period, periodZone(c, period));
}

/** A report's window: a period, or from–to (at most 366 days). */
export function reportWindow(c: Contract, q: ReportQuery, now: number): { window: Window; period: string | null } {
  if (q.period !== undefined) {
    if (q.from !== undefined || q.to !== undefined) throw new AppError('VALIDATION', 'period: give either period or from/to, not both', { field: 'period' });
    return { window: windowOfPeriod(c, q.period), period: q.period };
  }
  if (q.from === undefined && q.to === undefined) {
    const period = periodOf(now, versionAt(c, now).terms.time_zone);
    return { window: windowOfPeriod(c, period), period };
  }
  if (q.from === undefined || q.to === undefined) throw new AppError('VALIDATION', `${q.from === undefined ? 'from' : 'to'}: from and to go together`, { field: q.from === undefined ? 'from' : 'to' });
  if (q.to <= q.from) throw new AppError('VALIDATION', 'to: must be after from', { field: 'to' });
  if (q.to - q.from > 366 * DAY) throw new AppError('VALIDATION', 'to: a report window is at most 366 days', { field: 'to' });
  return { window: { from: q.from, to: q.to }, period: null };
}

export interface ClosedPeriod {
  contract_id: string;
  period: string;
  account_id: string;
  from: number;
  to: number;
  availability: string | null;
  credit_before_cap: bigint;
  credit: bigint;
  snapshot: Record<string, unknown> & { series: CompactSeries[] };
  closed_by: string;
  closed_at: number;
}

export const toClosed = (r: Row): ClosedPeriod => ({
  contract_id: str(r.contract_id),
  period: str(r.period),
  account_id: str(r.account_id),
  from: num(r.from_at),
  to: num(r.to_at),
  availability: r.availability === null ? null : str(r.availability),
  credit_before_cap: BigInt(r.credit_before_cap as bigint),
  credit: BigInt(r.credit as bigint),
  snapshot: json(r.snapshot, { series: [] } as ClosedPeriod['snapshot']),
  closed_by: str(r.closed_by),
  closed_at: num(r.closed_at),
});

export async function closedPeriod(q: Queryable, contractId: string, period: string): Promise<ClosedPeriod | null> {
  const r = await q.get('SELECT * FROM sla_periods WHERE contract_id = ? AND period = ?', [contractId, period]);
  return r ? toClosed(r) : null;
}

export function closedView(p: ClosedPeriod): Record<string, unknown> {
  return { contract_id: p.contract_id, period: p.period, window: { from: iso(p.from), to: iso(p.to) }, availability: p.availability, credit_before_cap: formatUsd(p.credit_before_cap), credit: formatUsd(p.credit), closed_by: p.closed_by, closed_at: iso(p.closed_at) };
}

export interface ReportResult {
  view: Record<string, unknown>;
  series: CompactSeries[];
  contract: Contract;
  closed: ClosedPeriod | null;
  report: Report | null;
}

/** A contract's report: a closed period's snapshot, else measured now. */
export async function contractReport(ctx: ServiceContext, id: string, raw: unknown, incidents: IncidentSource = incidentSource(ctx.db)): Promise<ReportResult> {
  const q = parseInput(ReportQuery, raw, 'query');
  const contract = await getContract(ctx, id);
  const { window, period } = reportWindow(contract, q, ctx.now());
  const series = q.series === '1' || q.series === 'true';
  if (period !== null) {
    const closed = await closedPeriod(ctx.db, id, period);
    if (closed) {
      const view = { ...closed.snapshot, status: 'closed', closed_at: iso(closed.closed_at), closed_by: closed.closed_by, corrections: await correctionsOf(ctx.db, id, period) };
      if (!series) delete (view as Record<string, unknown>).series;
      return { view, series: closed.snapshot.series, contract, closed, report: null };
    }
  }
  // A period or window still running is measured up to now (month to date): minutes to come are not 0 % errors yet.
  const now = ctx.now();
  const upTo = window.to > now ? { from: window.from, to: Math.max(window.from, ceilMinute(now)) } : window;
  const report = await buildReport(ctx.db, incidents, contract, upTo, period, now);
  const compact = report.segments.map(compactSeries);
  const view = { ...reportView(report), status: 'open', ...(series ? { series: compact } : {}) };
  return { view, series: compact, contract, closed: null, report };
}

export async function correctionsOf(q: Queryable, contractId: string, period: string): Promise<Array<Record<string, unknown>>> {
  const rows = await q.all('SELECT * FROM sla_corrections WHERE contract_id = ? AND period = ? ORDER BY created_at, id', [contractId, period]);
  return rows.map((r) => ({ id: str(r.id), amount: formatUsd(BigInt(r.amount as bigint)), reason: str(r.reason), tx_id: str(r.tx_id), created_by: str(r.created_by), created_at: iso(num(r.created_at)) }));
}
