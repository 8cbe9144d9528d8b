import type { Runtime } from '../kernel/context.ts';
import { num, optStr, str, type Queryable } from '../storage/port.ts';
import { STATUSES, type ComponentStatus } from './vocabulary.ts';

// The stored status history: every change of a component's public status, append-only. Uptime
// bars and the SLA figures of contracts are computed from it (statusIntervals is the interface
// src/contracts/ reads through src/status/index.ts).

export const DAY = 86_400_000;

export interface StatusChange {
  id: number;
  component_id: string;
  status: ComponentStatus | 'removed';
  previous: string | null;
  /** created | auto | override | maintenance | removed */
  source: string;
  reason: string | null;
  at: number;
}

/** A span of time a component spent in one status: [from, to). */
export interface StatusInterval {
  component_id: string;
  status: ComponentStatus;
  source: string;
  from: number;
  to: number;
}

const toChange = (r: Record<string, unknown>): StatusChange => ({
  id: num(r.id), component_id: str(r.component_id), status: str(r.status) as StatusChange['status'], previous: optStr(r.previous), source: str(r.source), reason: optStr(r.reason), at: num(r.at),
});

/** Stores one change and the component's new status, in the caller's transaction. */
export async function recordChange(q: Queryable, c: { id: string; status: ComponentStatus }, next: ComponentStatus, source: string, reason: string, at: number): Promise<void> {
  await q.run('INSERT INTO status_changes (component_id, status, previous, source, reason, at) VALUES (?, ?, ?, ?, ?, ?)', [c.id, next, c.status, source, reason.slice(0, 500), at]);
  await q.run('UPDATE status_components SET status = ?, status_since = ? WHERE id = ?', [next, at, c.id]);
}

/** Changes, newest first (the admin history and the page's recent changes). */
export async function listChanges(rt: Runtime, opts: { componentId?: string; from?: number; to?: number; limit?: number } = {}): Promise<StatusChange[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (opts.componentId) (where.push('component_id = ?'), params.push(opts.componentId));
  if (opts.from !== undefined) (where.push('at >= ?'), params.push(opts.from));
  if (opts.to !== undefined) (where.push('at < ?'), params.push(opts.to));
  const sql = `SELECT * FROM status_changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT ?`;
  return (await rt.db.all(sql, [...params, opts.limit ?? 100])).map(toChange);
}

/**
 * The status intervals of components over [from, to): what each component's public status was at
 * every moment of the range, clipped to it. Before a component was created, and after it was
 * removed, there is no interval (no data, neither up nor down).
 */
export async function statusIntervals(rt: Runtime, from: number, to: number, componentIds?: readonly string[]): Promise<Map<string, StatusInterval[]>> {
  const only = componentIds ? new Set(componentIds) : null;
  const seeds = await rt.db.all('SELECT * FROM status_changes WHERE id IN (SELECT MAX(id) FROM status_changes WHERE at < ? GROUP BY component_id)', [from]);
  const inRange = await rt.db.all('SELECT * FROM status_changes WHERE at >= ? AND at < ? ORDER BY at, id', [from, to]);
  const open = new Map<string, { status: string; source: string; since: number }>();
  const out = new Map<string, StatusInterval[]>();
  const push = (id: string, status: string, source: string, a: number, b: number) => {
    if (status === 'removed' || !(status in STATUSES) || b <= a) return;
    if (!out.has(id)) out.set(id, []);
    out.get(id)!.push({ component_id: id, status: status as ComponentStatus, source, from: a, to: b });
  };
  for (const r of seeds.map(toChange)) if (!only || only.has(r.component_id)) open.set(r.component_id, { status: r.status, source: r.source, since: from });
  for (const c of inRange.map(toChange)) {
    if (only && !only.has(c.component_id)) continue;
    const cur = open.get(c.component_id);
    if (cur) push(c.component_id, cur.status, cur.source, cur.since, c.at);
    open.set(c.component_id, { status: c.status, source: c.source, since: c.at });
  }
  for (const [id, cur] of open) push(id, cur.status, cur.source, cur.since, to);
  for (const list of out.values()) list.sort((a, b) => a.from - b.from);
  return out;
}

export interface DayUptime {
  /** Start of the UTC day. */
  day: number;
  /** Fraction up (0–1) by the page's rule, or null when the component has no history that day. */
  uptime: number | null;
  /** Minutes in each status that day. */
  minutes: Partial<Record<ComponentStatus, number>>;
  /** The most severe status of the day. */
  worst: ComponentStatus | null;
}

/**
 * Uptime per UTC day, by the rule stated on the page (vocabulary.ts): a major-outage minute is
 * down, a partial-outage minute 30 % down, anything else up. Only the time the component existed
 * (and, today, the time so far) is counted.
 */
export function dailyUptime(intervals: readonly StatusInterval[], firstDay: number, days: number, now: number): DayUptime[] {
  const out: DayUptime[] = [];
  for (let i = 0; i < days; i++) {
    const a = firstDay + i * DAY;
    const b = Math.min(a + DAY, now);
    let observed = 0;
    let down = 0;
    let worst: ComponentStatus | null = null;
    const minutes: Partial<Record<ComponentStatus, number>> = {};
    for (const iv of intervals) {
      const s = Math.max(a, iv.from);
      const e = Math.min(b, iv.to);
      if (e <= s) continue;
      observed += e - s;
      down += (e - s) * STATUSES[iv.status].downWeight;
      minutes[iv.status] = (minutes[iv.status] ?? 0) + (e - s) / 60_000;
      if (worst === null || STATUSES[iv.status].rank > STATUSES[worst].rank) worst = iv.status;
    }
    out.push({ day: a, uptime: observed > 0 ? 1 - down / observed : null, minutes, worst });
  }
  return out;
}

/** Uptime over a whole range (the figure beside the bars), by the same rule. */
export function rangeUptime(intervals: readonly StatusInterval[]): number | null {
  let observed = 0;
  let down = 0;
  for (const iv of intervals) {
    observed += iv.to - iv.from;
    down += (iv.to - iv.from) * STATUSES[iv.status].downWeight;
  }
  return observed > 0 ? 1 - down / observed : null;
}

export const startOfUtcDay = (t: number): number => Math.floor(t / DAY) * DAY;
