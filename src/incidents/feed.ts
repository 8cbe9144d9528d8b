import type { ServiceContext } from '../kernel/context.ts';
import { iso } from '../kernel/validation.ts';
import { creditView, getCredit } from '../billing/credits.ts';
import { requestView } from '../requests/schema.ts';
import { json, str, type Db } from '../storage/port.ts';
import { toIncident } from './model.ts';
import type { Basis } from './reissue.ts';
import { selection } from './scope.ts';

// The customer's feed of reissued credits: each entry names its incident, and its detail lists the
// requests it credited (re-selected from the basis the movement recorded: window, scope, filter).

const MAX_LISTED = 1000;

/** Credit views with, for a reissued credit, the incident it is for. */
export async function describeCredits(db: Db, views: Array<Record<string, unknown>>): Promise<Array<Record<string, unknown>>> {
  const ids = [...new Set(views.filter((v) => v.ref_type === 'incident').map((v) => String(v.ref_id)))];
  if (ids.length === 0) return views;
  const rows = await db.all(`SELECT id, title, status FROM incidents WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
  const byId = new Map(rows.map((r) => [str(r.id), { id: str(r.id), title: str(r.title), status: str(r.status) }]));
  return views.map((v) => (v.ref_type === 'incident' ? { ...v, incident: byId.get(String(v.ref_id)) ?? null } : v));
}

/** One credit of the account; a reissued one with its incident and the requests it credited (at most 1000 listed). */
export async function creditDetail(ctx: ServiceContext, accountId: string, creditId: string): Promise<Record<string, unknown>> {
  const credit = await getCredit(ctx, accountId, creditId);
  const view = creditView(credit);
  if (credit.ref_type !== 'incident' || credit.ref_id === null) return view;
  const [withIncident] = await describeCredits(ctx.db, [view]);
  const movement = await ctx.db.get('SELECT basis FROM incident_reissues WHERE credit_id = ?', [creditId]);
  const incidentRow = await ctx.db.get('SELECT * FROM incidents WHERE id = ?', [credit.ref_id]);
  if (!movement || !incidentRow) return { ...withIncident, requests: [] };
  const basis = json<Basis>(movement.basis, null as unknown as Basis);
  if (basis.requests === 0) return { ...withIncident, requests_total: 0, requests: [] };
  const incident = { ...toIncident(incidentRow), window_start: basis.window[0], window_end: basis.window[1], scope: basis.scope };
  const s = selection(incident, basis.formula.outcome, ctx.now(), { accountId });
  const rows = await ctx.db.all(`SELECT * FROM request_log ${s.sql} ORDER BY started_at, id LIMIT ${MAX_LISTED}`, s.params);
  return {
    ...withIncident,
    basis: { window: { start: iso(basis.window[0]), end: iso(basis.window[1]) }, outcome: basis.formula.outcome, requests: basis.requests, charged: basis.charged, loss: basis.loss },
    requests_total: basis.requests,
    requests: rows.map((r) => {
      const v = requestView(r, 'customer');
      return { id: v.id, started_at: v.started_at, model: v.model, endpoint: v.endpoint, outcome: v.outcome, amount: v.amount };
    }),
  };
}
