import { publishedIncidents, type Incident, type IncidentUpdate } from '../incidents/index.ts';
import type { Runtime } from '../kernel/context.ts';
import { listComponents, matchesModel, type StatusComponent } from './components.ts';
import type { IncidentSource, PublicIncident, PublicUpdate } from './notices.ts';

// The page's view of src/incidents/: published incidents and maintenance (never drafts), their
// public updates only (never internal notes), and the components they affect — those the operator
// named, or else those whose models or channels the incident's scope names.

/** Components an incident affects: named ones, or those its scope's models or channels map to. */
export function affectedComponents(i: Pick<Incident, 'components' | 'scope'>, comps: readonly StatusComponent[]): string[] {
  if (i.components.length > 0) return i.components;
  const { models, channels } = i.scope;
  if (models.length === 0 && channels.length === 0) return [];
  return comps.filter((c) => models.some((m) => matchesModel(c.models, m)) || channels.some((ch) => c.channels.includes(ch))).map((c) => c.id);
}

export function toPublicIncident(i: Incident, updates: readonly IncidentUpdate[], comps: readonly StatusComponent[]): PublicIncident {
  const pub = updates.filter((u) => u.visibility === 'public');
  const monitoring = pub.find((u) => u.status === 'monitoring');
  const out: PublicUpdate[] = pub
    .map((u) => ({ id: u.id, status: (u.status ?? i.status) as PublicUpdate['status'], body: u.body, created_at: u.created_at }))
    .sort((a, b) => b.created_at - a.created_at);
  return {
    id: i.id,
    kind: i.kind,
    name: i.title,
    status: i.status as PublicIncident['status'],
    impact: i.kind === 'maintenance' ? 'maintenance' : i.impact,
    created_at: i.created_at,
    updated_at: i.updated_at,
    started_at: i.kind === 'maintenance' ? (i.planned_start ?? i.window_start) : i.window_start,
    monitoring_at: monitoring?.created_at ?? null,
    resolved_at: i.resolved_at ?? (i.kind === 'maintenance' && i.status === 'completed' ? (i.window_end ?? i.updated_at) : null),
    scheduled_for: i.kind === 'maintenance' ? (i.planned_start ?? i.window_start) : null,
    scheduled_until: i.kind === 'maintenance' ? (i.planned_end ?? i.window_end) : null,
    components: affectedComponents(i, comps),
    updates: out,
  };
}

/** Incidents of src/incidents/ overlapping [from, to) or still open, newest first. */
export function incidentsOf(rt: Runtime): IncidentSource {
  return {
    async list(from, to) {
      const [rows, comps] = await Promise.all([publishedIncidents(rt.db, from, to), listComponents(rt, { removed: true })]);
      return rows.map((r) => toPublicIncident(r.incident, r.updates, comps)).sort((a, b) => b.started_at - a.started_at || b.created_at - a.created_at);
    },
  };
}
