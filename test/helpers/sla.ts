// Incidents and maintenance as the SLA reads them (contracts/support.ts), given as data for the
// measurement tests that need exact timestamps.
import type { IncidentSource, SlaIncident } from '../../src/contracts/support.ts';

export function incidentsOf(list: Array<Partial<SlaIncident> & { id: string; start: number }>): IncidentSource {
  const full: SlaIncident[] = list.map((i) => ({
    title: i.id, kind: 'incident', severity: 'sev2', attribution: 'platform', scope: {}, end: null, announcedAt: null, plannedStart: null, plannedEnd: null,
    detectedAt: null, acknowledgedAt: null, firstPublicUpdateAt: null, resolvedAt: null, publicUpdates: [], ...i,
  }));
  return { list: async (from, to) => full.filter((i) => i.start < to && (i.end ?? i.plannedEnd ?? Infinity) > from) };
}
