import type { Migration } from '../storage/migrations.ts';
import { OUTBOX_SQL } from '../notify/schema.ts';

// Migration 8: incidents (and scheduled maintenance: the same object with a planned window), their
// timeline (public updates and internal notes apart), the reissuance movements per account, and the
// ONE outbox every notice goes through (notify/schema.ts).
//
// An incident's scope and components are JSON lists of ids; its window is [window_start,
// window_end) in epoch ms (window_end null while it lasts). A reissuance row is one movement of
// credit for one account: `seq` counts them per (incident, account) and, with the credits table's
// unique (batch_id, account_id), makes a second movement for the same step impossible.
export const INCIDENTS_MIGRATION: Migration = {
  version: 8,
  name: 'incidents, maintenance, reissuance; the outbox (webhook endpoints and deliveries)',
  sql: `
CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  title TEXT NOT NULL,
  summary TEXT,
  severity TEXT NOT NULL,
  impact TEXT NOT NULL,
  attribution TEXT NOT NULL,
  components TEXT NOT NULL,
  scope TEXT NOT NULL,
  window_start {{big}} NOT NULL,
  window_end {{big}},
  planned_start {{big}},
  planned_end {{big}},
  detected_at {{big}},
  acknowledged_at {{big}},
  first_public_update_at {{big}},
  mitigated_at {{big}},
  resolved_at {{big}},
  source TEXT NOT NULL,
  detector_key TEXT,
  evidence TEXT,
  loss TEXT,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL
);
CREATE INDEX incidents_window ON incidents(window_start);
CREATE INDEX incidents_status ON incidents(status, window_start);
CREATE INDEX incidents_detector ON incidents(detector_key, status);

CREATE TABLE incident_updates (
  id TEXT PRIMARY KEY,
  incident_id TEXT NOT NULL REFERENCES incidents(id),
  visibility TEXT NOT NULL,
  status TEXT,
  body TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates(incident_id, created_at);

CREATE TABLE incident_reissues (
  id TEXT PRIMARY KEY,
  incident_id TEXT NOT NULL REFERENCES incidents(id),
  account_id TEXT NOT NULL,
  seq {{big}} NOT NULL,
  amount {{big}} NOT NULL,
  total {{big}} NOT NULL,
  requests {{big}} NOT NULL,
  charged {{big}} NOT NULL,
  basis TEXT NOT NULL,
  credit_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE UNIQUE INDEX incident_reissues_step ON incident_reissues(incident_id, account_id, seq);
CREATE INDEX incident_reissues_account ON incident_reissues(account_id, created_at);
${OUTBOX_SQL}`,
};
