import type { Runtime } from '../kernel/context.ts';
import { listComponents, listGroups, type StatusComponent, type StatusGroup } from './components.ts';
import { DAY, dailyUptime, listChanges, rangeUptime, startOfUtcDay, statusIntervals, type DayUptime, type StatusChange } from './history.ts';
import { isOpen, type IncidentSource, type PublicIncident } from './notices.ts';
import { responseTimes, type TimePoint } from './samples.ts';
import { pageIndicator, worst, type ComponentStatus, type Indicator } from './vocabulary.ts';

// Everything the public page, the JSON API and the feeds show, read once and shared by all of them
// (routes.ts caches it for a few seconds, so a burst of visitors costs one read).

export interface PageSettings {
  /** The page's name ("Acme AI status"). */
  name: string;
  /** Its public URL (links in feeds and the JSON API); the request's own when unset. */
  url: string | null;
  /** Days of uptime bars. */
  days: number;
  /** E-mail sign-up offered (SMTP configured): the page shows its form. */
  subscribe?: boolean;
}

export const DEFAULT_PAGE: PageSettings = { name: 'Surety', url: null, days: 90 };

export interface ComponentSnapshot {
  component: StatusComponent;
  days: DayUptime[];
  /** Uptime over the bars' range (null: no history). */
  uptime: number | null;
  /** Mean response time per hour over the last 24 hours. */
  latency: TimePoint[];
}

export interface GroupSnapshot {
  group: StatusGroup;
  status: ComponentStatus;
  components: ComponentSnapshot[];
}

export interface PageSnapshot {
  settings: PageSettings;
  at: number;
  updatedAt: number;
  indicator: Indicator;
  /** Groups in order, then the components without a group (group null). */
  sections: Array<{ group: GroupSnapshot | null; components: ComponentSnapshot[] }>;
  components: ComponentSnapshot[];
  groups: GroupSnapshot[];
  /** Incidents and maintenance of the bars' range and any still open or upcoming, newest first. */
  incidents: PublicIncident[];
  /** The latest changes of public status (the feeds list them beside incidents). */
  changes: StatusChange[];
}

export async function loadSnapshot(rt: Runtime, incidents: IncidentSource, settings: PageSettings, now = rt.now()): Promise<PageSnapshot> {
  const [comps, groups] = await Promise.all([listComponents(rt), listGroups(rt)]);
  const firstDay = startOfUtcDay(now) - (settings.days - 1) * DAY;
  const intervals = await statusIntervals(rt, firstDay, now, comps.map((c) => c.id));
  const all = await incidents.list(firstDay, now + 366 * DAY);
  const snaps: ComponentSnapshot[] = [];
  for (const c of comps) {
    const iv = intervals.get(c.id) ?? [];
    snaps.push({ component: c, days: dailyUptime(iv, firstDay, settings.days, now), uptime: rangeUptime(iv), latency: await responseTimes(rt, c.id, now, 24, 60) });
  }
  const byGroup = new Map<string | null, ComponentSnapshot[]>();
  for (const s of snaps) {
    const g = s.component.group_id && groups.some((x) => x.id === s.component.group_id) ? s.component.group_id : null;
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(s);
  }
  const gsnaps: GroupSnapshot[] = groups.map((g) => {
    const members = byGroup.get(g.id) ?? [];
    return { group: g, status: members.reduce<ComponentStatus>((w, s) => worst(w, s.component.status), 'operational'), components: members };
  });
  const sections = [...gsnaps.filter((g) => g.components.length > 0).map((g) => ({ group: g, components: g.components })), ...(byGroup.has(null) ? [{ group: null, components: byGroup.get(null)! }] : [])];
  const updatedAt = Math.max(0, ...comps.map((c) => Math.max(c.status_since, c.updated_at)), ...all.map((i) => i.updated_at));
  return {
    settings,
    at: now,
    updatedAt: updatedAt || now,
    indicator: pageIndicator(comps.map((c) => c.status)),
    sections,
    components: snaps,
    groups: gsnaps,
    incidents: all,
    changes: (await listChanges(rt, { limit: 50 })).filter((c) => c.source !== 'created' && c.source !== 'removed'),
  };
}

export const unresolved = (s: PageSnapshot): PublicIncident[] => s.incidents.filter((i) => i.kind === 'incident' && isOpen(i));
const inWindow = (i: PublicIncident, at: number) => i.scheduled_for !== null && i.scheduled_for <= at && (i.scheduled_until === null || i.scheduled_until > at);
/** In progress: so marked, or scheduled and inside its window. */
export const activeMaintenance = (s: PageSnapshot): PublicIncident[] =>
  s.incidents.filter((i) => i.kind === 'maintenance' && (i.status === 'in_progress' || i.status === 'verifying' || (i.status === 'scheduled' && inWindow(i, s.at))));
export const upcomingMaintenance = (s: PageSnapshot): PublicIncident[] => s.incidents.filter((i) => i.kind === 'maintenance' && i.status === 'scheduled' && (i.scheduled_for ?? 0) > s.at);
