// The public API of src/incidents/ for the rest of Surety (the status page, SLA contracts, the
// console): the vocabulary, reading incidents, and the services behind the admin API and CLI.
import type { Db } from '../storage/port.ts';
import { CLOSED_STATUSES, toIncident, toUpdate, type Incident, type IncidentUpdate } from './model.ts';

export {
  ATTRIBUTIONS, CLOSED_STATUSES, IMPACTS, INCIDENT_KINDS, INCIDENT_STATUSES, MAINTENANCE_STATUSES, MILESTONES, SEVERITIES, STATUSES,
  incidentView, publicIncidentView, updateView,
  type Attribution, type Impact, type Incident, type IncidentKind, type IncidentStatus, type IncidentUpdate, type Milestone, type PublicStatus, type Scope, type Severity,
} from './model.ts';
export { declareIncident, getIncident, listIncidents, patchIncident, postIncidentUpdate, resolveIncident } from './service.ts';
export { registerIncidentRoutes } from './routes.ts';
export { INCIDENTS_MIGRATION } from './schema.ts';

/**
 * Published incidents and maintenance (never drafts) whose window overlaps [from, to), oldest
 * first, each with its public updates only. `to` null: up to now and beyond (maintenance
 * scheduled ahead). For the status page and SLA measurement.
 */
export async function publishedIncidents(db: Db, from: number, to: number | null = null): Promise<Array<{ incident: Incident; updates: IncidentUpdate[] }>> {
  const before = to === null ? '' : ' AND window_start < ?';
  const rows = await db.all(`SELECT * FROM incidents WHERE status <> 'draft' AND (window_end IS NULL OR window_end > ?)${before} ORDER BY window_start, id`, to === null ? [from] : [from, to]);
  const out: Array<{ incident: Incident; updates: IncidentUpdate[] }> = [];
  for (const r of rows) {
    const incident = toIncident(r);
    const updates = (await db.all("SELECT * FROM incident_updates WHERE incident_id = ? AND visibility = 'public' ORDER BY created_at, id", [incident.id])).map(toUpdate);
    out.push({ incident, updates });
  }
  return out;
}

/** Whether an incident is over (resolved, postmortem, or a completed maintenance). */
export const isClosed = (i: Pick<Incident, 'status'>): boolean => CLOSED_STATUSES.includes(i.status);
