import type { Migration } from '../storage/migrations.ts';

// Migration 14: SLA contracts (terms versioned by amendments), closed periods (immutable
// snapshots), corrections after closing, claims; and the per-minute request rollups every report
// reads (requests/rollups.ts keeps them as logs are written and rebuilds them from the logs).
//
// A version's terms are one JSON document (contracts/terms.ts), in force from `effective_from`
// until the next version's. A closed period is written once and never updated: its snapshot is
// the report as it was at closing; a later change of mind is a row in sla_corrections.
// Rollup dimensions use '' for "none" (a key-less or model-less row), so that they can be keys;
// the key's order (account, minute, outcome, …) lets a report group by minute and outcome without
// sorting (10 million rows a month are read in index order).
export const CONTRACTS_MIGRATION: Migration = {
  version: 14,
  name: 'SLA contracts, versions, closed periods, corrections, claims; per-minute request rollups',
  sql: `
CREATE TABLE sla_contracts (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL
);
CREATE INDEX sla_contracts_account ON sla_contracts(account_id);

CREATE TABLE sla_contract_versions (
  contract_id TEXT NOT NULL REFERENCES sla_contracts(id),
  version {{big}} NOT NULL,
  effective_from {{big}} NOT NULL,
  terms TEXT NOT NULL,
  reason TEXT,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  PRIMARY KEY (contract_id, version)
);

CREATE TABLE sla_periods (
  contract_id TEXT NOT NULL REFERENCES sla_contracts(id),
  period TEXT NOT NULL,
  account_id TEXT NOT NULL,
  from_at {{big}} NOT NULL,
  to_at {{big}} NOT NULL,
  availability TEXT,
  credit_before_cap {{big}} NOT NULL,
  credit {{big}} NOT NULL,
  snapshot TEXT NOT NULL,
  closed_by TEXT NOT NULL,
  closed_at {{big}} NOT NULL,
  PRIMARY KEY (contract_id, period)
);
CREATE INDEX sla_periods_account ON sla_periods(account_id, closed_at);

CREATE TABLE sla_corrections (
  id TEXT PRIMARY KEY,
  contract_id TEXT NOT NULL,
  period TEXT NOT NULL,
  account_id TEXT NOT NULL,
  amount {{big}} NOT NULL,
  reason TEXT NOT NULL,
  tx_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE INDEX sla_corrections_period ON sla_corrections(contract_id, period);

CREATE TABLE sla_claims (
  id TEXT PRIMARY KEY,
  contract_id TEXT NOT NULL REFERENCES sla_contracts(id),
  account_id TEXT NOT NULL,
  period TEXT NOT NULL,
  evidence TEXT,
  filed_by TEXT NOT NULL,
  filed_at {{big}} NOT NULL
);
CREATE UNIQUE INDEX sla_claims_period ON sla_claims(contract_id, period);

CREATE TABLE request_rollups (
  account_id TEXT NOT NULL,
  minute {{big}} NOT NULL,
  outcome TEXT NOT NULL,
  model TEXT NOT NULL,
  key_id TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  requests {{big}} NOT NULL,
  amount {{big}} NOT NULL,
  PRIMARY KEY (account_id, minute, outcome, model, key_id, endpoint)
);
CREATE INDEX request_rollups_minute ON request_rollups(minute);
`,
};
