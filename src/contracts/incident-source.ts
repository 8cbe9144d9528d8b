import type { Db } from '../storage/port.ts';
import { publishedIncidents } from '../incidents/index.ts';
import type { IncidentSource, SlaIncident } from './support.ts';

// Where the SLA reads incidents and maintenance: the incidents module's published ones (never
// drafts), with their public timeline. A maintenance is announced when it is first published
// (its first public update); an incident's support times run from its detection.
export function incidentSource(db: Db): IncidentSource {
  return {
    async list(from, to) {
      const all = await publishedIncidents(db, from, to);
      return all.map(({ incident: i, updates }): SlaIncident => ({
        id: i.id,
        title: i.title,
        kind: i.kind === 'maintenance' ? 'maintenance' : 'incident',
        severity: i.severity,
        attribution: i.attribution,
        scope: { models: i.scope.models, endpoints: i.scope.endpoints, accounts: i.scope.accounts },
        start: i.window_start,
        end: i.window_end,
        announcedAt: i.first_public_update_at,
        plannedStart: i.planned_start,
        plannedEnd: i.planned_end,
        detectedAt: i.detected_at,
        acknowledgedAt: i.acknowledged_at,
        firstPublicUpdateAt: i.first_public_update_at,
        resolvedAt: i.resolved_at,
        publicUpdates: updates.map((u) => u.created_at).sort((a, b) => a - b),
      }));
    },
  };
}
