// The incident vocabulary and the stored shape (docs/incidents.md). An incident and a scheduled
// maintenance are one object: `kind` tells them apart, a maintenance also has a planned window.
// Every list here is pinned by test/unit/incidents/service.test.ts; the status page (src/status/)
// and SLA contracts (src/contracts/) read incidents through index.ts.
import { z } from 'zod';
import { iso, isoTime } from '../kernel/validation.ts';
import { json, num, optNum, optStr, str, type Row } from '../storage/port.ts';

export const INCIDENT_KINDS = ['incident', 'maintenance'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** Public statuses of an incident's timeline (Statuspage's), and `draft`: not public yet. */
export const INCIDENT_STATUSES = ['investigating', 'identified', 'monitoring', 'resolved', 'postmortem'] as const;
/** Public statuses of a maintenance's timeline (Statuspage's). */
export const MAINTENANCE_STATUSES = ['scheduled', 'in_progress', 'verifying', 'completed'] as const;
export const STATUSES = ['draft', ...INCIDENT_STATUSES, ...MAINTENANCE_STATUSES] as const;
export type IncidentStatus = (typeof STATUSES)[number];
export type PublicStatus = Exclude<IncidentStatus, 'draft'>;

/** Statuses in which the incident is over (its window has an end). */
export const CLOSED_STATUSES: readonly IncidentStatus[] = ['resolved', 'postmortem', 'completed'];

export const SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const IMPACTS = ['none', 'minor', 'major', 'critical'] as const;
export type Impact = (typeof IMPACTS)[number];

/**
 * Who caused it. Only `platform` incidents are reissued (DESIGN guarantee 3); upstream ones are
 * handled by the billing rules of their outcomes.
 */
export const ATTRIBUTIONS = ['platform', 'upstream', 'upstream_moderation', 'upstream_rate_limit', 'customer', 'unknown'] as const;
export type Attribution = (typeof ATTRIBUTIONS)[number];

/** What an incident touched. An empty list means every one (no restriction on that dimension). */
export interface Scope {
  models: string[];
  channels: string[];
  endpoints: string[];
  accounts: string[];
}
export const EMPTY_SCOPE: Scope = { models: [], channels: [], endpoints: [], accounts: [] };

const id = z.string().trim().min(1).max(200);
const ids = z.array(id).max(1000);
export const ScopeInput = z
  .object({ models: ids.default([]), channels: ids.default([]), endpoints: ids.default([]), accounts: ids.default([]) })
  .strict();

/** Timestamps kept for SLA response and resolution times. */
export const MILESTONES = ['detected_at', 'acknowledged_at', 'first_public_update_at', 'mitigated_at', 'resolved_at'] as const;
export type Milestone = (typeof MILESTONES)[number];

export interface Incident {
  id: string;
  kind: IncidentKind;
  status: IncidentStatus;
  title: string;
  summary: string | null;
  severity: Severity;
  impact: Impact;
  attribution: Attribution;
  /** Status-page component ids (src/status defines them). */
  components: string[];
  scope: Scope;
  window_start: number;
  window_end: number | null;
  planned_start: number | null;
  planned_end: number | null;
  detected_at: number | null;
  acknowledged_at: number | null;
  first_public_update_at: number | null;
  mitigated_at: number | null;
  resolved_at: number | null;
  /** `operator` (declared) or `detector` (a draft opened from traffic). */
  source: 'operator' | 'detector';
  detector_key: string | null;
  evidence: unknown;
  /** The loss formula for reissuance (null: the default). */
  loss: unknown;
  created_by: string;
  created_at: number;
  updated_at: number;
}

export function toIncident(r: Row): Incident {
  return {
    id: str(r.id),
    kind: str(r.kind) as IncidentKind,
    status: str(r.status) as IncidentStatus,
    title: str(r.title),
    summary: optStr(r.summary),
    severity: str(r.severity) as Severity,
    impact: str(r.impact) as Impact,
    attribution: str(r.attribution) as Attribution,
    components: json<string[]>(r.components, []),
    scope: { ...EMPTY_SCOPE, ...json<Partial<Scope>>(r.scope, {}) },
    window_start: num(r.window_start),
    window_end: optNum(r.window_end),
    planned_start: optNum(r.planned_start),
    planned_end: optNum(r.planned_end),
    detected_at: optNum(r.detected_at),
    acknowledged_at: optNum(r.acknowledged_at),
    first_public_update_at: optNum(r.first_public_update_at),
    mitigated_at: optNum(r.mitigated_at),
    resolved_at: optNum(r.resolved_at),
    source: str(r.source) as Incident['source'],
    detector_key: optStr(r.detector_key),
    evidence: json<unknown>(r.evidence, null),
    loss: json<unknown>(r.loss, null),
    created_by: str(r.created_by),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

/** The stored values in the column order of INCIDENT_COLUMNS. */
export const INCIDENT_COLUMNS = [
  'id', 'kind', 'status', 'title', 'summary', 'severity', 'impact', 'attribution', 'components', 'scope', 'window_start', 'window_end', 'planned_start', 'planned_end',
  'detected_at', 'acknowledged_at', 'first_public_update_at', 'mitigated_at', 'resolved_at', 'source', 'detector_key', 'evidence', 'loss', 'created_by', 'created_at', 'updated_at',
] as const;

export function incidentValues(i: Incident): Array<string | number | null> {
  return INCIDENT_COLUMNS.map((c) => {
    const v = i[c];
    if (c === 'components' || c === 'scope') return JSON.stringify(v);
    if (c === 'evidence' || c === 'loss') return v === null || v === undefined ? null : JSON.stringify(v);
    return v as string | number | null;
  });
}

export interface IncidentUpdate {
  id: string;
  incident_id: string;
  visibility: 'public' | 'internal';
  status: PublicStatus | null;
  body: string;
  created_by: string;
  created_at: number;
}

export function toUpdate(r: Row): IncidentUpdate {
  return {
    id: str(r.id),
    incident_id: str(r.incident_id),
    visibility: str(r.visibility) as IncidentUpdate['visibility'],
    status: optStr(r.status) as PublicStatus | null,
    body: str(r.body),
    created_by: str(r.created_by),
    created_at: num(r.created_at),
  };
}

export function updateView(u: IncidentUpdate): Record<string, unknown> {
  return { id: u.id, visibility: u.visibility, status: u.status, body: u.body, created_by: u.created_by, created_at: iso(u.created_at) };
}

/** Minutes between two milestones (SLA response and resolution times), or null. */
function minutes(from: number | null, to: number | null): number | null {
  return from === null || to === null ? null : Math.round((to - from) / 600) / 100;
}

/** The operator's view: everything, with the timeline when given. */
export function incidentView(i: Incident, updates?: IncidentUpdate[]): Record<string, unknown> {
  return {
    id: i.id,
    kind: i.kind,
    status: i.status,
    published: i.status !== 'draft',
    title: i.title,
    summary: i.summary,
    severity: i.severity,
    impact: i.impact,
    attribution: i.attribution,
    components: i.components,
    scope: i.scope,
    window: { start: iso(i.window_start), end: iso(i.window_end) },
    planned: i.kind === 'maintenance' ? { start: iso(i.planned_start), end: iso(i.planned_end) } : null,
    detected_at: iso(i.detected_at),
    acknowledged_at: iso(i.acknowledged_at),
    first_public_update_at: iso(i.first_public_update_at),
    mitigated_at: iso(i.mitigated_at),
    resolved_at: iso(i.resolved_at),
    // Measured from detection (SLA contracts define their own targets per severity).
    minutes_to_acknowledge: minutes(i.detected_at, i.acknowledged_at),
    minutes_to_resolve: minutes(i.detected_at, i.resolved_at),
    source: i.source,
    evidence: i.evidence,
    loss: i.loss,
    created_by: i.created_by,
    created_at: iso(i.created_at),
    updated_at: iso(i.updated_at),
    ...(updates ? { updates: updates.map(updateView) } : {}),
  };
}

/** What the public (status page, customers, webhooks) sees: no internal notes, attribution detail, evidence or scope accounts. */
export function publicIncidentView(i: Incident, updates: IncidentUpdate[] = []): Record<string, unknown> {
  return {
    id: i.id,
    kind: i.kind,
    status: i.status,
    title: i.title,
    impact: i.impact,
    components: i.components,
    started_at: iso(i.window_start),
    resolved_at: iso(i.resolved_at),
    scheduled_for: iso(i.planned_start),
    scheduled_until: iso(i.planned_end),
    updated_at: iso(i.updated_at),
    updates: updates.filter((u) => u.visibility === 'public').map((u) => ({ id: u.id, status: u.status, body: u.body, created_at: iso(u.created_at) })),
  };
}

export const time = isoTime;
