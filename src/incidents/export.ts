import type { Db } from '../storage/port.ts';
import type { Dataset } from '../kernel/export.ts';
import { REQUEST_LOG_DATASETS, requestView, type Audience } from '../requests/schema.ts';
import type { Selection } from './scope.ts';

// The export of an incident's affected scope, in the ONE export format (kernel/export.ts): the
// request-log columns (operator or customer) after the incident's id. Version 1 of each dataset
// is pinned by test/unit/incidents/export.test.ts (with the request-log version it derives from) and documented in docs/export.md.

export const INCIDENT_SCOPE_EXPORT_VERSION = 1;
export const INCIDENT_SCOPE_DATASETS: Record<Audience, Dataset> = {
  operator: { name: 'incident-scope', version: INCIDENT_SCOPE_EXPORT_VERSION, columns: ['incident_id', ...REQUEST_LOG_DATASETS.operator.columns], accountColumn: 'account_id', amountColumns: ['amount'] },
  customer: { name: 'incident-scope.customer', version: INCIDENT_SCOPE_EXPORT_VERSION, columns: ['incident_id', ...REQUEST_LOG_DATASETS.customer.columns], accountColumn: 'account_id', amountColumns: ['amount'] },
};

/** The rows of an incident's scope export, oldest first, streamed (a cursor on both engines). */
export async function* scopeRows(db: Db, incidentId: string, s: Selection, audience: Audience): AsyncIterable<Record<string, unknown>> {
  for await (const r of db.stream(`SELECT * FROM request_log ${s.sql} ORDER BY started_at, id`, s.params)) yield { incident_id: incidentId, ...requestView(r, audience) };
}

/** The file name of an incident's export (before its format's extension). */
export const scopeFileBase = (incidentId: string, accountId?: string) => `surety-incident-${incidentId}${accountId ? `-${accountId}` : ''}`;
