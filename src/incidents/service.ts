import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { SortQuery, sortedPage, type Paged, type SortSpec } from '../kernel/sorting.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import type { Queryable } from '../storage/port.ts';
import { enqueue } from '../notify/outbox.ts';
import {
  ATTRIBUTIONS, CLOSED_STATUSES, EMPTY_SCOPE, IMPACTS, INCIDENT_COLUMNS, INCIDENT_KINDS, INCIDENT_STATUSES, MAINTENANCE_STATUSES, SEVERITIES, ScopeInput,
  incidentValues, incidentView, publicIncidentView, time, toIncident, toUpdate, type Incident, type IncidentUpdate, type PublicStatus,
} from './model.ts';
import { LossInput } from './loss.ts';

// Incidents and maintenance: declare, change, post to the timeline, resolve. Each action is one
// transaction with its audit entry and, when the public sees it, its notice in the outbox.
// Milestones (detected, acknowledged, first public update, mitigated, resolved) are set by the
// actions that reach them and stay correctable by PATCH.

const text = (max: number) => z.string().trim().min(1).max(max);
const components = z.array(z.string().trim().min(1).max(200)).max(200);
const publicStatus = z.enum([...INCIDENT_STATUSES, ...MAINTENANCE_STATUSES]);

export const DeclareInput = z
  .object({
    kind: z.enum(INCIDENT_KINDS).default('incident'),
    title: text(200),
    summary: text(5000).optional(),
    severity: z.enum(SEVERITIES).default('sev3'),
    impact: z.enum(IMPACTS).optional(),
    attribution: z.enum(ATTRIBUTIONS).default('unknown'),
    components: components.default([]),
    scope: ScopeInput.default(EMPTY_SCOPE),
    window_start: time.optional(),
    window_end: time.optional(),
    planned_start: time.optional(),
    planned_end: time.optional(),
    detected_at: time.optional(),
    status: publicStatus.optional(),
    message: text(5000).optional(),
    draft: z.boolean().default(false),
    loss: LossInput.optional(),
  })
  .strict();

export const PatchInput = z
  .object({
    title: text(200),
    summary: text(5000).nullable(),
    severity: z.enum(SEVERITIES),
    impact: z.enum(IMPACTS),
    attribution: z.enum(ATTRIBUTIONS),
    components,
    scope: ScopeInput,
    window_start: time,
    window_end: time.nullable(),
    planned_start: time.nullable(),
    planned_end: time.nullable(),
    detected_at: time.nullable(),
    acknowledged_at: time.nullable(),
    mitigated_at: time.nullable(),
    resolved_at: time.nullable(),
    loss: LossInput.nullable(),
  })
  .partial()
  .strict();

export const UpdateInput = z
  .object({ visibility: z.enum(['public', 'internal']).default('public'), status: publicStatus.optional(), body: text(5000) })
  .strict();

/** Checks what a stored incident must satisfy (after a declaration or a change). */
function checkShape(i: Incident): void {
  if (i.window_end !== null && i.window_end <= i.window_start) throw new AppError('VALIDATION', `window_end: must be after window_start (${iso(i.window_start)})`, { field: 'window_end' });
  if (i.kind === 'maintenance') {
    if (i.planned_start === null || i.planned_end === null) throw new AppError('VALIDATION', `${i.planned_start === null ? 'planned_start' : 'planned_end'}: a maintenance needs its planned window`, { field: i.planned_start === null ? 'planned_start' : 'planned_end' });
    if (i.planned_end <= i.planned_start) throw new AppError('VALIDATION', 'planned_end: must be after planned_start', { field: 'planned_end' });
  } else if (i.planned_start !== null || i.planned_end !== null) {
    throw new AppError('VALIDATION', 'planned_start: only a maintenance has a planned window', { field: 'planned_start' });
  }
}

const statusesOf = (i: Pick<Incident, 'kind'>): readonly string[] => (i.kind === 'maintenance' ? MAINTENANCE_STATUSES : INCIDENT_STATUSES);

/** The timeline may move between any public statuses of the kind, except that a postmortem follows a resolution. */
function checkTransition(i: Incident, to: PublicStatus): void {
  if (!statusesOf(i).includes(to)) throw new AppError('VALIDATION', `status: a ${i.kind} takes ${statusesOf(i).join(', ')}; not ${to}`, { field: 'status' });
  if (to === 'postmortem' && i.status !== 'resolved' && i.status !== 'postmortem') throw new AppError('CONFLICT', 'A postmortem follows a resolved incident; resolve it first.');
}

/** Applies a public status to the milestones and the window (first time each is reached). */
function reach(i: Incident, to: PublicStatus, now: number): void {
  i.first_public_update_at ??= now;
  i.acknowledged_at ??= now;
  if (to === 'monitoring' || to === 'verifying') i.mitigated_at ??= now;
  if (to === 'in_progress' && i.window_start > now) i.window_start = now;
  if (CLOSED_STATUSES.includes(to)) {
    i.resolved_at ??= now;
    i.mitigated_at ??= i.resolved_at;
    i.window_end ??= Math.max(now, i.window_start + 1);
  } else if (CLOSED_STATUSES.includes(i.status)) {
    // Reopened: the incident lasts again.
    i.resolved_at = null;
    i.window_end = null;
  }
  i.status = to;
}

export async function loadIncident(q: Queryable, id: string, forUpdate = ''): Promise<Incident> {
  const r = await q.get(`SELECT * FROM incidents WHERE id = ?${forUpdate}`, [id]);
  if (!r) throw new AppError('NOT_FOUND', `incident ${id} not found`, { resource: 'incident' });
  return toIncident(r);
}

export async function loadUpdates(q: Queryable, id: string): Promise<IncidentUpdate[]> {
  return (await q.all('SELECT * FROM incident_updates WHERE incident_id = ? ORDER BY created_at, id', [id])).map(toUpdate);
}

async function saveIncident(q: Queryable, i: Incident, insert: boolean): Promise<void> {
  const values = incidentValues(i);
  if (insert) {
    await q.run(`INSERT INTO incidents (${INCIDENT_COLUMNS.join(', ')}) VALUES (${INCIDENT_COLUMNS.map(() => '?').join(', ')})`, values);
  } else {
    const cols = INCIDENT_COLUMNS.slice(1);
    await q.run(`UPDATE incidents SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`, [...values.slice(1), i.id]);
  }
}

/**
 * Tells the public: the operator's endpoints and the endpoints of every account named in the
 * scope get the incident's public view (`incident.created` on publication, `incident.resolved`,
 * else `incident.updated`). The key makes it once per timeline entry.
 */
async function notifyPublic(q: Queryable, i: Incident, topic: string, key: string, now: number): Promise<void> {
  const payload = publicIncidentView(i, await loadUpdates(q, i.id));
  await enqueue(q, { topic, accountId: null, payload, key, at: now });
  for (const accountId of i.scope.accounts) await enqueue(q, { topic, accountId, operator: false, payload, key: `${key}:${accountId}`, at: now });
}

async function postEntry(ctx: ServiceContext, q: Queryable, i: Incident, u: { visibility: 'public' | 'internal'; status: PublicStatus | null; body: string }, now: number): Promise<IncidentUpdate> {
  const entry: IncidentUpdate = { id: newId('iup', now), incident_id: i.id, visibility: u.visibility, status: u.status, body: u.body, created_by: actorId(ctx.actor), created_at: now };
  await q.run('INSERT INTO incident_updates (id, incident_id, visibility, status, body, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    entry.id, i.id, entry.visibility, entry.status, entry.body, entry.created_by, now,
  ]);
  return entry;
}

const DEFAULT_MESSAGE: Partial<Record<PublicStatus, string>> = {
  investigating: 'We are investigating this issue.',
  scheduled: 'This maintenance is scheduled.',
  resolved: 'This incident has been resolved.',
  completed: 'This maintenance has been completed.',
};

/** Where a draft opened from traffic came from (incidents/detector.ts). */
export interface DetectorOrigin {
  key: string;
  evidence: unknown;
}

/** Declares an incident or schedules a maintenance; published at once unless `draft`. */
export async function declareIncident(ctx: ServiceContext, raw: unknown, origin?: DetectorOrigin): Promise<Incident> {
  requireOperator(ctx.actor);
  const b = parseInput(DeclareInput, raw);
  const now = ctx.now();
  const maintenance = b.kind === 'maintenance';
  const i: Incident = {
    id: newId('inc', now), kind: b.kind, status: 'draft', title: b.title, summary: b.summary ?? null, severity: b.severity, impact: b.impact ?? (maintenance ? 'none' : 'minor'),
    attribution: b.attribution, components: b.components, scope: b.scope, window_start: b.window_start ?? b.planned_start ?? now, window_end: b.window_end ?? null,
    planned_start: b.planned_start ?? null, planned_end: b.planned_end ?? null, detected_at: maintenance ? null : (b.detected_at ?? now), acknowledged_at: maintenance || ctx.actor.type !== 'operator' ? null : now,
    first_public_update_at: null, mitigated_at: null, resolved_at: null, source: origin ? 'detector' : 'operator', detector_key: origin?.key ?? null, evidence: origin?.evidence ?? null,
    loss: b.loss ?? null, created_by: actorId(ctx.actor), created_at: now, updated_at: now,
  };
  checkShape(i);
  const status = b.status ?? (maintenance ? 'scheduled' : 'investigating');
  if (b.draft && (b.status || b.message)) throw new AppError('VALIDATION', 'draft: a draft has no public status or message yet', { field: 'draft' });
  await ctx.db.tx(async (q) => {
    if (!b.draft) checkTransition(i, status);
    await saveIncident(q, i, true);
    if (!b.draft) {
      const body = b.message ?? DEFAULT_MESSAGE[status] ?? `Status: ${status}.`;
      const u = await postEntry(ctx, q, i, { visibility: 'public', status, body }, now);
      reach(i, status, now);
      await saveIncident(q, i, false);
      await notifyPublic(q, i, 'incident.created', `incident:${i.id}:update:${u.id}`, now);
    } else {
      // The operator is told of a draft; the public is not.
      await enqueue(q, { topic: 'incident.draft', accountId: null, payload: incidentView(i), key: `incident:${i.id}:draft`, at: now });
    }
    await audit(q, ctx.actor, 'incident.declare', { type: 'incident', id: i.id }, undefined, i, now);
  });
  return i;
}

export interface IncidentChange {
  incident: Incident;
  before: Incident;
}

/**
 * Changes fields of an incident (not its status: that is the timeline's). Runs `also` in the same
 * transaction with the before and after (reissuance hooks a change of attribution there).
 */
export async function patchIncident(ctx: ServiceContext, id: string, raw: unknown, also?: (q: Queryable, c: IncidentChange) => Promise<void>): Promise<IncidentChange> {
  requireOperator(ctx.actor);
  const b = parseInput(PatchInput, raw);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const before = await loadIncident(q, id, ctx.db.forUpdate);
    const i: Incident = { ...before, ...(b as Partial<Incident>), updated_at: now };
    if (b.scope) i.scope = b.scope;
    // An operator's change acknowledges an incident (a detector's draft) that nobody had acknowledged.
    if (b.acknowledged_at === undefined && i.kind === 'incident' && ctx.actor.type === 'operator') i.acknowledged_at ??= now;
    checkShape(i);
    await saveIncident(q, i, false);
    await audit(q, ctx.actor, 'incident.update', { type: 'incident', id }, before, i, now);
    await also?.(q, { incident: i, before });
    return { incident: i, before };
  });
}

/** Posts to the timeline: a public update (optionally moving the status; publishes a draft) or an internal note. */
export async function postIncidentUpdate(ctx: ServiceContext, id: string, raw: unknown): Promise<{ incident: Incident; update: IncidentUpdate }> {
  requireOperator(ctx.actor);
  const b = parseInput(UpdateInput, raw);
  const now = ctx.now();
  return ctx.db.tx(async (q) => {
    const i = await loadIncident(q, id, ctx.db.forUpdate);
    if (b.visibility === 'internal') {
      if (b.status) throw new AppError('VALIDATION', 'status: an internal note does not change the status; post a public update', { field: 'status' });
      const u = await postEntry(ctx, q, i, { visibility: 'internal', status: null, body: b.body }, now);
      await audit(q, ctx.actor, 'incident.note', { type: 'incident', id }, undefined, u, now);
      return { incident: i, update: u };
    }
    const before = { ...i };
    const to: PublicStatus = b.status ?? (i.status === 'draft' ? (i.kind === 'maintenance' ? 'scheduled' : 'investigating') : i.status);
    checkTransition(i, to);
    const u = await postEntry(ctx, q, i, { visibility: 'public', status: to, body: b.body }, now);
    reach(i, to, now);
    i.updated_at = now;
    await saveIncident(q, i, false);
    const topic = before.status === 'draft' ? 'incident.created' : CLOSED_STATUSES.includes(to) && !CLOSED_STATUSES.includes(before.status) ? 'incident.resolved' : 'incident.updated';
    await notifyPublic(q, i, topic, `incident:${id}:update:${u.id}`, now);
    await audit(q, ctx.actor, 'incident.post', { type: 'incident', id }, { status: before.status }, { status: i.status, update: u }, now);
    return { incident: i, update: u };
  });
}

export const ResolveInput = z.object({ end: time.optional(), message: text(5000).optional() }).strict();

/** Resolves (or completes a maintenance): a public update, the window's end (given, or now; editable later). */
export async function resolveIncident(ctx: ServiceContext, id: string, raw: unknown = {}): Promise<Incident> {
  const b = parseInput(ResolveInput, raw);
  const current = await loadIncident(ctx.db, id);
  const to: PublicStatus = current.kind === 'maintenance' ? 'completed' : 'resolved';
  if (b.end !== undefined) await patchIncident(ctx, id, { window_end: iso(b.end) });
  const { incident } = await postIncidentUpdate(ctx, id, { status: to, body: b.message ?? DEFAULT_MESSAGE[to]! });
  return incident;
}

export async function getIncident(ctx: ServiceContext, id: string): Promise<{ incident: Incident; updates: IncidentUpdate[] }> {
  requireOperator(ctx.actor);
  const incident = await loadIncident(ctx.db, id);
  return { incident, updates: await loadUpdates(ctx.db, id) };
}

export const ListFilter = z
  .object({
    status: z.enum(['draft', 'open', 'closed', ...INCIDENT_STATUSES, ...MAINTENANCE_STATUSES]).optional(),
    kind: z.enum(INCIDENT_KINDS).optional(),
    attribution: z.enum(ATTRIBUTIONS).optional(),
    from: time.optional(),
    to: time.optional(),
    before: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
    ...SortQuery.shape,
  })
  .strict();

/** How incidents sort. */
export const INCIDENT_SORT: SortSpec = {
  columns: { id: 'id', window_start: 'window_start', window_end: 'COALESCE(window_end, 0)', created_at: 'created_at', status: 'status', severity: 'severity', kind: 'kind', attribution: 'attribution', title: 'title' },
  text: ['id', 'status', 'severity', 'kind', 'attribution', 'title'],
  default: '-id',
};

/** Incidents newest first; `open` is published and not over, `closed` is over; from/to select windows that overlap. */
export async function listIncidents(ctx: ServiceContext, raw: unknown): Promise<Incident[]> {
  return (await pageIncidents(ctx, raw)).rows;
}

/** Incidents matching the filter in the asked order (default: newest first), a page after the cursor. */
export async function pageIncidents(ctx: ServiceContext, raw: unknown): Promise<Paged<Incident>> {
  requireOperator(ctx.actor);
  const f = parseInput(ListFilter, raw, 'query');
  const w: string[] = [];
  const p: Array<string | number> = [];
  const closed = CLOSED_STATUSES.map((s) => `'${s}'`).join(', ');
  if (f.status === 'open') w.push(`status NOT IN ('draft', ${closed})`);
  else if (f.status === 'closed') w.push(`status IN (${closed})`);
  else if (f.status) (w.push('status = ?'), p.push(f.status));
  if (f.kind) (w.push('kind = ?'), p.push(f.kind));
  if (f.attribution) (w.push('attribution = ?'), p.push(f.attribution));
  if (f.to !== undefined) (w.push('window_start < ?'), p.push(f.to));
  if (f.from !== undefined) (w.push('(window_end IS NULL OR window_end > ?)'), p.push(f.from));
  if (f.before) (w.push('id < ?'), p.push(f.before));
  const page = await sortedPage(ctx.db, { from: 'incidents', where: w, params: p, spec: INCIDENT_SORT, sort: f.sort, cursor: f.cursor, limit: f.limit ?? 100 });
  return { rows: page.rows.map(toIncident), next_cursor: page.next_cursor };
}
