import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import { EXPORT_FORMATS, exportFileName, exportManifest, sendExport } from '../kernel/export.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { parseInput } from '../kernel/validation.ts';
import type { RouteTable } from '../http/routes.ts';
import type { Audience } from '../requests/schema.ts';
import { incidentView, updateView } from './model.ts';
import { DeclareInput, ListFilter, PatchInput, UpdateInput, declareIncident, getIncident, pageIncidents, loadIncident, loadUpdates, patchIncident, postIncidentUpdate } from './service.ts';
import { PreviewInput, ReissueInput, previewIncident, previewView, reissueIncident, reissueView, reverseOnReattribution, type Movement } from './reissue.ts';
import { OUTCOME_PRESETS } from './loss.ts';
import { channelIds, selection } from './scope.ts';
import { INCIDENT_SCOPE_DATASETS, scopeFileBase, scopeRows } from './export.ts';
import { creditDetail } from './feed.ts';

// The incident API: the operator's (/admin/v1/incidents) and the customer's slice of an
// incident's export (/account/v1/incidents/{id}/export). Routes parse and call the services.

export const ExportQuery = z
  .object({ format: z.enum(EXPORT_FORMATS).optional(), account_id: z.string().min(1).max(200).optional(), outcome: z.enum(OUTCOME_PRESETS).optional() })
  .strict();

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
    const { rows, next_cursor } = await pageIncidents(ctx(c), c.query);
    const limit = Number(c.query.limit ?? 100);
    return { data: rows.map((i) => incidentView(i)), next_before: rows.length === limit ? rows.at(-1)!.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: `${base}/:id`, auth: op, tag, summary: 'An incident with its timeline (public updates and internal notes)' }, async (c) => {
    const { incident, updates } = await getIncident(ctx(c), c.params.id!);
    return incidentView(incident, updates);
  });
  t.add({ method: 'PATCH', url: `${base}/:id`, auth: op, tag, summary: 'Change an incident: title, severity, impact, attribution (away from platform: credits reversed), components, scope, window, milestones, loss formula', body: PatchInput }, async (c) => {
    const s = ctx(c);
    let reversed: Movement[] = [];
    const { incident } = await patchIncident(s, c.params.id!, c.body, async (q, change) => void (reversed = await reverseOnReattribution(s, q, change)));
    for (const m of reversed) rt.bus.balanceChanged(m.account_id);
    return { ...incidentView(incident, await loadUpdates(rt.db, incident.id)), ...(reversed.length ? { reversed: reversed.map((m) => ({ account_id: m.account_id, credit_id: m.credit_id, amount: m.amount.toString() })) } : {}) };
  });
  t.add({ method: 'POST', url: `${base}/:id/updates`, auth: op, tag, summary: 'Post a public update (status: investigating|identified|monitoring|resolved|postmortem; publishes a draft) or an internal note', body: UpdateInput, status: 201 }, async (c) => {
    const { incident, update } = await postIncidentUpdate(ctx(c), c.params.id!, c.body);
    return { update: updateView(update), incident: incidentView(incident) };
  });
  t.add({ method: 'GET', url: `${base}/:id/affected`, auth: op, tag, summary: 'Preview the affected scope per account: requests, amounts, loss, credited, to credit (?outcome=charged|failed|all&account_id=); writes nothing', query: PreviewInput }, async (c) =>
    previewView(await previewIncident(ctx(c), c.params.id!, c.query)));
  t.add({ method: 'POST', url: `${base}/:id/reissue`, auth: op, tag, summary: 'Reissue credits for a platform incident, once per account: answers what was credited now and in total per account', body: ReissueInput }, async (c) =>
    reissueView(await reissueIncident(ctx(c), c.params.id!, c.body)));
  registerExportRoutes(t, rt);
}

/** The export of an incident's scope (operator: every account or one; customer: their own slice) and its manifest. */
function registerExportRoutes(t: RouteTable, rt: Runtime): void {
  const scoped = async (actor: Actor, id: string, query: unknown) => {
    const f = parseInput(ExportQuery, query, 'query');
    const incident = await loadIncident(rt.db, id);
    let audience: Audience = 'operator';
    let accountId = f.account_id;
    if (actor.type === 'customer') {
      requireRole(actor, actor.accountId, 'viewer');
      if (incident.status === 'draft') throw new AppError('NOT_FOUND', `incident ${id} not found`, { resource: 'incident' });
      if (accountId !== undefined && accountId !== actor.accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
      audience = 'customer';
      accountId = actor.accountId;
    }
    const preset = f.outcome ?? ((incident.loss as { outcome?: 'charged' } | null)?.outcome ?? 'charged');
    const s = selection(incident, preset, rt.now(), { accountId, channelIds: await channelIds(rt.db) });
    return { f, incident, s, audience, accountId, name: scopeFileBase(incident.id, accountId) };
  };
  for (const [prefix, auth] of [['/admin/v1', 'operator'], ['/account/v1', 'customer']] as const) {
    const who = auth === 'operator' ? '' : 'Your slice of ';
    t.add({ method: 'GET', url: `${prefix}/incidents/:id/export`, auth, tag: 'incidents', summary: `${who}an incident's affected requests in the uniform export (?format=csv|ndjson&account_id=&outcome=)`, query: ExportQuery }, async (c) => {
      const x = await scoped(c.actor, c.params.id!, c.query);
      const format = x.f.format ?? 'csv';
      c.reply.hijack();
      try {
        await sendExport(c.reply.raw, INCIDENT_SCOPE_DATASETS[x.audience], format, exportFileName(x.name, format), scopeRows(rt.db, x.incident.id, x.s, x.audience), x.s.describe);
      } catch (err) {
        rt.log.error({ err }, 'incident export failed');
      }
      return undefined;
    });
    t.add({ method: 'GET', url: `${prefix}/incidents/:id/export/manifest`, auth, tag: 'incidents', summary: `The manifest of ${who ? 'your' : 'an'} incident export (same filters; without format, both files)`, query: ExportQuery }, async (c) => {
      const x = await scoped(c.actor, c.params.id!, c.query);
      const formats = x.f.format ? [x.f.format] : EXPORT_FORMATS;
      return exportManifest(INCIDENT_SCOPE_DATASETS[x.audience], scopeRows(rt.db, x.incident.id, x.s, x.audience), formats.map((format) => ({ name: exportFileName(x.name, format), format })), x.s.describe);
    });
  }
  t.add({ method: 'GET', url: '/account/v1/credits/:id', auth: 'customer', tag: 'account', summary: 'One credit; a reissued one names its incident and lists the credited requests' }, async (c) => {
    const a = c.actor;
    if (a.type !== 'customer') throw new AppError('FORBIDDEN');
    return creditDetail(withActor(rt, a), a.accountId, c.params.id!);
  });
}
