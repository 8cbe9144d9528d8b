import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import type { RouteTable } from '../http/routes.ts';
import { incidentView, updateView } from './model.ts';
import { DeclareInput, ListFilter, PatchInput, UpdateInput, declareIncident, getIncident, listIncidents, loadUpdates, patchIncident, postIncidentUpdate } from './service.ts';

// The operator's incident API (/admin/v1/incidents): routes parse and call the services.

export function registerIncidentRoutes(t: RouteTable, rt: Runtime): void {
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const op = 'operator' as const;
  const tag = 'incidents';
  const base = '/admin/v1/incidents';

  t.add({ method: 'POST', url: base, auth: op, tag, summary: 'Declare an incident or schedule a maintenance (published at once unless draft: true)', body: DeclareInput, status: 201 }, async (c) => {
    const i = await declareIncident(ctx(c), c.body);
    return incidentView(i, await loadUpdates(rt.db, i.id));
  });
  t.add({ method: 'GET', url: base, auth: op, tag, summary: 'Incidents and maintenance, newest first (?status=draft|open|closed|<status>&kind=&attribution=&from=&to=&before=&limit=)', query: ListFilter }, async (c) => {
    const rows = await listIncidents(ctx(c), c.query);
    const limit = Number(c.query.limit ?? 100);
    return { data: rows.map((i) => incidentView(i)), next_before: rows.length === limit ? rows.at(-1)!.id : null };
  });
  t.add({ method: 'GET', url: `${base}/:id`, auth: op, tag, summary: 'An incident with its timeline (public updates and internal notes)' }, async (c) => {
    const { incident, updates } = await getIncident(ctx(c), c.params.id!);
    return incidentView(incident, updates);
  });
  t.add({ method: 'PATCH', url: `${base}/:id`, auth: op, tag, summary: 'Change an incident: title, severity, impact, attribution, components, scope, window (back-dated start, editable end), milestones, loss formula', body: PatchInput }, async (c) => {
    const { incident } = await patchIncident(ctx(c), c.params.id!, c.body);
    return incidentView(incident, await loadUpdates(rt.db, incident.id));
  });
  t.add({ method: 'POST', url: `${base}/:id/updates`, auth: op, tag, summary: 'Post a public update (status: investigating|identified|monitoring|resolved|postmortem; publishes a draft) or an internal note', body: UpdateInput, status: 201 }, async (c) => {
    const { incident, update } = await postIncidentUpdate(ctx(c), c.params.id!, c.body);
    return { update: updateView(update), incident: incidentView(incident) };
  });
}
