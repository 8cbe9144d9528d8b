import type { Db } from '../storage/port.ts';
import { noIncidents, type IncidentSource } from './support.ts';

// Where the SLA reads incidents and maintenance from: the incidents module (src/incidents/),
// through the seam of support.ts. Until that module is part of this build, there are none.
export function incidentSource(_db: Db): IncidentSource {
  return noIncidents;
}
