import { iso } from '../kernel/validation.ts';
import type { Compiled, Severity } from './terms.ts';
import { SEVERITIES } from './terms.ts';
import { percentOf } from './credit.ts';
import { ceilMinute, floorMinute, type Window } from './periods.ts';

// What the SLA reads of incidents and maintenance (owned by the incidents module): their scope,
// window and timestamps. `IncidentSource` is the seam; the incidents module's reader plugs in
// (contracts/incident-source.ts), and without one there are no incidents to count.

export interface SlaIncident {
  id: string;
  title: string;
  kind: 'incident' | 'maintenance';
  severity: string | null;
  attribution: string;
  scope: { models?: string[] | null; endpoints?: string[] | null; accounts?: string[] | null };
  start: number;
  end: number | null;
  /** When customers were told (maintenance: the announcement). */
  announcedAt: number | null;
  plannedStart: number | null;
  plannedEnd: number | null;
  detectedAt: number | null;
  acknowledgedAt: number | null;
  firstPublicUpdateAt: number | null;
  resolvedAt: number | null;
  /** Times of the public updates, ascending. */
  publicUpdates: number[];
}

export interface IncidentSource {
  /** Incidents and maintenance whose window overlaps [from, to). */
  list(from: number, to: number): Promise<SlaIncident[]>;
}

export const noIncidents: IncidentSource = { list: async () => [] };

const overlaps = (a: readonly string[] | null | undefined, b: readonly string[] | null) => !a || a.length === 0 || b === null || a.some((x) => b.includes(x));

/** Whether an incident's scope touches the contract's account and coverage. */
export function touches(i: SlaIncident, c: Compiled, accountId: string): boolean {
  if (i.scope.accounts && i.scope.accounts.length > 0 && !i.scope.accounts.includes(accountId)) return false;
  return overlaps(i.scope.models, c.terms.coverage.models) && overlaps(i.scope.endpoints, c.terms.coverage.endpoints);
}

export interface MaintenanceView {
  id: string;
  title: string;
  window: { from: string | null; to: string | null };
  announced_at: string | null;
  notice_hours: number | null;
  excluded: boolean;
  reason: string;
}

/**
 * Maintenance excluded from measurement: announced at least the contract's notice ahead of its
 * planned start; only its planned window is excluded (an overrun counts), widened to whole minutes.
 */
export function maintenanceWindows(all: readonly SlaIncident[], c: Compiled, accountId: string): { windows: Window[]; views: MaintenanceView[] } {
  const windows: Window[] = [];
  const views: MaintenanceView[] = [];
  const need = c.terms.exclusions.maintenance_notice_hours;
  for (const i of all) {
    if (i.kind !== 'maintenance' || !touches(i, c, accountId)) continue;
    const from = i.plannedStart ?? i.start;
    const to = i.plannedEnd ?? i.end;
    const notice = i.announcedAt === null ? null : (from - i.announcedAt) / 3_600_000;
    let reason: string;
    if (need === null) reason = 'the contract excludes no maintenance';
    else if (notice === null || notice < need) reason = `announced ${notice === null ? 'never' : `${notice.toFixed(1)} h`} ahead; the contract needs ${need} h`;
    else if (to === null) reason = 'no planned end';
    else reason = `announced ${notice.toFixed(1)} h ahead (at least ${need} h)`;
    const excluded = need !== null && notice !== null && notice >= need && to !== null;
    if (excluded) windows.push({ from: floorMinute(from), to: ceilMinute(to!) });
    views.push({ id: i.id, title: i.title, window: { from: iso(from), to: iso(to) }, announced_at: iso(i.announcedAt), notice_hours: notice === null ? null : Math.round(notice * 10) / 10, excluded, reason });
  }
  return { windows, views };
}

export interface Breach {
  kind: 'first_response' | 'update_interval' | 'resolution';
  target_minutes: number;
  actual_minutes: number | null;
  credit: bigint;
}

export interface SupportView {
  id: string;
  title: string;
  severity: string | null;
  attribution: string;
  started_at: string | null;
  resolved_at: string | null;
  first_response_minutes: number | null;
  longest_update_gap_minutes: number | null;
  resolution_minutes: number | null;
  targets: { first_response_minutes: number | null; update_interval_minutes: number | null; resolution_minutes: number | null } | null;
  breaches: Breach[];
}

const mins = (ms: number | null) => (ms === null ? null : Math.round(ms / 600) / 100);

/** An incident's response and resolution times against the terms of its severity, and its breaches. */
export function supportOf(i: SlaIncident, c: Compiled, base: bigint, now: number): SupportView {
  const start = i.detectedAt ?? i.start;
  const end = i.resolvedAt ?? now;
  const firstResponse = i.firstPublicUpdateAt ?? i.acknowledgedAt;
  const responseMs = firstResponse === null ? null : firstResponse - start;
  // The longest silence: from the start to the first update, between updates, and from the last one to the end.
  const marks = [start, ...i.publicUpdates.filter((t) => t >= start && t <= end), end];
  let gap = 0;
  for (let k = 1; k < marks.length; k++) gap = Math.max(gap, marks[k]! - marks[k - 1]!);
  const resolutionMs = i.resolvedAt === null ? null : i.resolvedAt - start;
  const sev = (SEVERITIES as readonly string[]).includes(i.severity ?? '') ? (i.severity as Severity) : null;
  const rule = sev ? c.support[sev] : undefined;
  const breaches: Breach[] = [];
  if (rule) {
    const credit = rule.breachCredit + percentOf(base, rule.breachCreditMicro);
    const check = (kind: Breach['kind'], target: number | null, actual: number | null, elapsed: number) => {
      if (target === null) return;
      // Missing (not yet responded / resolved) counts once the target has passed.
      if ((actual !== null && actual > target) || (actual === null && elapsed > target)) breaches.push({ kind, target_minutes: target / 60_000, actual_minutes: mins(actual), credit });
    };
    check('first_response', rule.firstResponseMs, responseMs, end - start);
    if (rule.updateIntervalMs !== null && gap > rule.updateIntervalMs) breaches.push({ kind: 'update_interval', target_minutes: rule.updateIntervalMs / 60_000, actual_minutes: mins(gap), credit });
    check('resolution', rule.resolutionMs, resolutionMs, end - start);
  }
  return {
    id: i.id,
    title: i.title,
    severity: i.severity,
    attribution: i.attribution,
    started_at: iso(start),
    resolved_at: iso(i.resolvedAt),
    first_response_minutes: mins(responseMs),
    longest_update_gap_minutes: mins(gap),
    resolution_minutes: mins(resolutionMs),
    targets: rule ? { first_response_minutes: rule.firstResponseMs && rule.firstResponseMs / 60_000, update_interval_minutes: rule.updateIntervalMs && rule.updateIntervalMs / 60_000, resolution_minutes: rule.resolutionMs && rule.resolutionMs / 60_000 } : null,
    breaches,
  };
}

/** Incidents the support terms apply to: platform ones, and upstream ones when upstreams are covered. */
export function supportIncidents(all: readonly SlaIncident[], c: Compiled, accountId: string, w: Window): SlaIncident[] {
  return all.filter((i) => {
    if (i.kind !== 'incident' || !touches(i, c, accountId)) return false;
    const start = i.detectedAt ?? i.start;
    if (start < w.from || start >= w.to) return false;
    return i.attribution === 'platform' || (c.terms.coverage.upstreams && i.attribution === 'upstream');
  });
}
