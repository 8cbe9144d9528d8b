import type { AutoLevel, ComponentStatus } from './vocabulary.ts';
import type { Queryable } from '../storage/port.ts';

// What the status page reads of incidents and maintenance, and how it announces changes. The
// incidents module (src/incidents/) owns both; this is the narrow port the page depends on, so
// the page works (without incidents) before that module is wired in, and tests can use real
// implementations of either side.

export type IncidentStatus = 'investigating' | 'identified' | 'monitoring' | 'resolved' | 'postmortem';
export type MaintenanceStatus = 'scheduled' | 'in_progress' | 'verifying' | 'completed';

export interface PublicUpdate {
  id: string;
  status: IncidentStatus | MaintenanceStatus;
  body: string;
  created_at: number;
  updated_at?: number;
  display_at?: number;
}

/** An incident or a maintenance as the public sees it. */
export interface PublicIncident {
  id: string;
  kind: 'incident' | 'maintenance';
  name: string;
  status: IncidentStatus | MaintenanceStatus;
  impact: 'none' | 'minor' | 'major' | 'critical' | 'maintenance';
  created_at: number;
  updated_at: number;
  started_at: number;
  monitoring_at: number | null;
  resolved_at: number | null;
  /** Maintenance only. */
  scheduled_for: number | null;
  scheduled_until: number | null;
  /** Status component ids it affects. */
  components: string[];
  /** Public updates, newest first. */
  updates: PublicUpdate[];
}

export interface IncidentSource {
  /** Incidents and maintenances that overlap [from, to) or are still open, newest first. */
  list(from: number, to: number): Promise<PublicIncident[]>;
}

/** The page before incidents are wired in: none. */
export const NO_INCIDENTS: IncidentSource = { list: async () => [] };

export const isOpen = (i: PublicIncident): boolean => i.resolved_at === null && i.status !== 'resolved' && i.status !== 'postmortem' && i.status !== 'completed';

/** Components under maintenance at `now` (a maintenance in its window and not completed). */
export function maintenanceAt(incidents: readonly PublicIncident[], now: number): Set<string> {
  const out = new Set<string>();
  for (const i of incidents) {
    if (i.kind !== 'maintenance' || i.status === 'completed') continue;
    const started = i.status === 'in_progress' || i.status === 'verifying' || (i.scheduled_for !== null && i.scheduled_for <= now);
    const ended = i.scheduled_until !== null && i.scheduled_until <= now && i.status !== 'in_progress' && i.status !== 'verifying';
    if (started && !ended) for (const c of i.components) out.add(c);
  }
  return out;
}

/** The worst level open incidents imply per component (by impact). */
export function incidentLevels(incidents: readonly PublicIncident[], levelOf: (impact: string) => AutoLevel | null): Map<string, AutoLevel> {
  const out = new Map<string, AutoLevel>();
  const order = ['operational', 'degraded_performance', 'partial_outage', 'major_outage'];
  for (const i of incidents) {
    if (i.kind !== 'incident' || !isOpen(i)) continue;
    const l = levelOf(i.impact);
    if (!l) continue;
    for (const c of i.components) {
      const cur = out.get(c);
      if (!cur || order.indexOf(l) > order.indexOf(cur)) out.set(c, l);
    }
  }
  return out;
}

/** A change of a component's public status, for subscribers. */
export interface StatusChangeNotice {
  component_id: string;
  component_name: string;
  status: ComponentStatus;
  previous: ComponentStatus;
  source: string;
  reason: string;
  at: number;
}

/** Where a status change is announced: called inside the transaction that stores it (the outbox's contract). */
export type ChangeSink = (q: Queryable, change: StatusChangeNotice) => Promise<void>;
