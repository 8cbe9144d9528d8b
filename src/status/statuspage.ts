import { iso } from '../kernel/validation.ts';
import type { PublicIncident } from './notices.ts';
import { activeMaintenance, unresolved, upcomingMaintenance, type ComponentSnapshot, type GroupSnapshot, type PageSnapshot } from './snapshot.ts';
import { INDICATOR_DESCRIPTION } from './vocabulary.ts';

// The Statuspage-compatible JSON API (public v2): the same paths and exactly the same field names,
// so that existing clients, aggregators and "is it down" tools read Surety's page unchanged.
// test/integration/status/statuspage-api.test.ts pins every field name.

export const PAGE_ID = 'surety';

export function pageJson(s: PageSnapshot, baseUrl: string): Record<string, unknown> {
  return { id: PAGE_ID, name: s.settings.name, url: s.settings.url ?? baseUrl, time_zone: 'Etc/UTC', updated_at: iso(s.updatedAt) };
}

export function statusJson(s: PageSnapshot): { indicator: string; description: string } {
  // Statuspage has no "maintenance" indicator value in status.json; maintenance alone reads as none.
  const indicator = s.indicator === 'maintenance' ? 'none' : s.indicator;
  return { indicator, description: s.indicator === 'maintenance' ? INDICATOR_DESCRIPTION.maintenance : INDICATOR_DESCRIPTION[indicator] };
}

function componentJson(c: ComponentSnapshot): Record<string, unknown> {
  const k = c.component;
  return {
    id: k.id,
    name: k.name,
    status: k.status,
    created_at: iso(k.created_at),
    updated_at: iso(Math.max(k.updated_at, k.status_since)),
    position: k.position,
    description: k.description,
    showcase: true,
    start_date: iso(k.created_at)!.slice(0, 10),
    group_id: k.group_id,
    page_id: PAGE_ID,
    group: false,
    only_show_if_degraded: false,
  };
}

function groupJson(g: GroupSnapshot): Record<string, unknown> {
  return {
    id: g.group.id,
    name: g.group.name,
    status: g.status,
    created_at: iso(g.group.created_at),
    updated_at: iso(g.group.updated_at),
    position: g.group.position,
    description: g.group.description,
    showcase: false,
    start_date: null,
    group_id: null,
    page_id: PAGE_ID,
    group: true,
    only_show_if_degraded: false,
    components: g.components.map((c) => c.component.id),
  };
}

export function componentsJson(s: PageSnapshot): Record<string, unknown>[] {
  return [...s.groups.filter((g) => g.components.length > 0).map(groupJson), ...s.components.map(componentJson)];
}

function incidentJson(i: PublicIncident, s: PageSnapshot, baseUrl: string): Record<string, unknown> {
  const comps = s.components.filter((c) => i.components.includes(c.component.id)).map(componentJson);
  const out: Record<string, unknown> = {
    id: i.id,
    name: i.name,
    status: i.status,
    created_at: iso(i.created_at),
    updated_at: iso(i.updated_at),
    monitoring_at: iso(i.monitoring_at),
    resolved_at: iso(i.resolved_at),
    impact: i.impact,
    shortlink: `${s.settings.url ?? baseUrl}/status/incidents/${encodeURIComponent(i.id)}`,
    started_at: iso(i.started_at),
    page_id: PAGE_ID,
    incident_updates: i.updates.map((u) => ({
      id: u.id,
      status: u.status,
      body: u.body,
      incident_id: i.id,
      created_at: iso(u.created_at),
      updated_at: iso(u.updated_at ?? u.created_at),
      display_at: iso(u.display_at ?? u.created_at),
      affected_components: null,
      deliver_notifications: true,
      custom_tweet: null,
      tweet_id: null,
    })),
    components: comps,
  };
  if (i.kind === 'maintenance') {
    out.scheduled_for = iso(i.scheduled_for);
    out.scheduled_until = iso(i.scheduled_until);
  }
  return out;
}

/** Every route of the API: path under /status/api/v2 → body. */
export function statuspageDocuments(s: PageSnapshot, baseUrl: string): Record<string, unknown> {
  const page = pageJson(s, baseUrl);
  const inc = (list: PublicIncident[]) => list.map((i) => incidentJson(i, s, baseUrl));
  const incidents = s.incidents.filter((i) => i.kind === 'incident');
  const maint = s.incidents.filter((i) => i.kind === 'maintenance');
  const open = unresolved(s);
  const active = activeMaintenance(s);
  const upcoming = upcomingMaintenance(s);
  return {
    'summary.json': { page, components: componentsJson(s), incidents: inc(open), scheduled_maintenances: inc([...active, ...upcoming]), status: statusJson(s) },
    'status.json': { page, status: statusJson(s) },
    'components.json': { page, components: componentsJson(s) },
    'incidents.json': { page, incidents: inc(incidents.slice(0, 50)) },
    'incidents/unresolved.json': { page, incidents: inc(open) },
    'scheduled-maintenances.json': { page, scheduled_maintenances: inc(maint.slice(0, 50)) },
    'scheduled-maintenances/upcoming.json': { page, scheduled_maintenances: inc(upcoming) },
    'scheduled-maintenances/active.json': { page, scheduled_maintenances: inc(active) },
  };
}
