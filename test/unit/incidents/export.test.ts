// The incident-scope datasets of the uniform export: version 1 is the incident's id followed by the
// request-log columns of request-log version 2. A new request-log version changes these columns,
// so it fails here until incident-scope gets a new version too (docs/export.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INCIDENT_SCOPE_DATASETS, INCIDENT_SCOPE_EXPORT_VERSION } from '../../../src/incidents/export.ts';
import { REQUEST_LOG_DATASETS, REQUEST_LOG_EXPORT_VERSION } from '../../../src/requests/schema.ts';

test('incident-scope version 1 = incident_id + request-log version 2, for operators and customers', () => {
  assert.equal(INCIDENT_SCOPE_EXPORT_VERSION, 1);
  assert.equal(REQUEST_LOG_EXPORT_VERSION, 2, 'request-log changed version: give incident-scope a new version as well');
  assert.deepEqual(INCIDENT_SCOPE_DATASETS.operator.columns, ['incident_id', ...REQUEST_LOG_DATASETS.operator.columns]);
  assert.deepEqual(INCIDENT_SCOPE_DATASETS.customer.columns, ['incident_id', ...REQUEST_LOG_DATASETS.customer.columns]);
  assert.ok(!INCIDENT_SCOPE_DATASETS.customer.columns.includes('channel_id'), 'customers never see channels');
  assert.deepEqual([INCIDENT_SCOPE_DATASETS.operator.name, INCIDENT_SCOPE_DATASETS.operator.accountColumn, INCIDENT_SCOPE_DATASETS.operator.amountColumns], ['incident-scope', 'account_id', ['amount']]);
});
