import type { Migration } from '../storage/migrations.ts';

// The status page's tables (migration 13). Incidents and maintenance are not here: they belong to
// src/incidents/ and are read through its interface.
//
// - status_groups / status_components: the catalog of what the page shows. A component maps to
//   models (glob patterns) and channels (names), or is a platform component (all traffic, only the
//   platform's own faults count); rules (thresholds, hysteresis) and its synthetic probe are JSON.
//   `status` is the public status now; `auto_status` what the engine alone concluded.
// - status_changes: every change of a component's public status (the history behind uptime bars
//   and SLA figures). Append-only.
// - status_samples: one row per component and minute: live traffic (recomputed from the traffic
//   rollups while the minute is recent; from the request log before migration 17) and synthetic
//   probe results (added by the prober).
// - status_subscribers: subscriptions to the page, optionally per component. A webhook
//   subscription is delivered through the ONE outbox (src/notify/): `endpoint_id` is its webhook
//   endpoint (signed, retried); `account_id` is the customer account that made it (null: operator).
export const STATUS_MIGRATION: Migration = {
  version: 13,
  name: 'status page: components, groups, status history, samples, subscribers',
  sql: `
CREATE TABLE status_groups (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT,
  position {{big}} NOT NULL DEFAULT 0,
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL
);
CREATE TABLE status_components (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT,
  group_id TEXT,
  position {{big}} NOT NULL DEFAULT 0,
  platform {{big}} NOT NULL DEFAULT 0,
  models TEXT NOT NULL,
  channels TEXT NOT NULL,
  rules TEXT,
  probe TEXT,
  status TEXT NOT NULL DEFAULT 'operational',
  status_since {{big}} NOT NULL,
  auto_status TEXT NOT NULL DEFAULT 'operational',
  override_status TEXT,
  override_note TEXT,
  override_until {{big}},
  override_by TEXT,
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL,
  removed_at {{big}}
);
CREATE TABLE status_changes (
  id {{id}},
  component_id TEXT NOT NULL,
  status TEXT NOT NULL,
  previous TEXT,
  source TEXT NOT NULL,
  reason TEXT,
  at {{big}} NOT NULL
);
CREATE INDEX status_changes_component_at ON status_changes(component_id, at);
CREATE INDEX status_changes_at ON status_changes(at);
CREATE TABLE status_samples (
  component_id TEXT NOT NULL,
  minute {{big}} NOT NULL,
  requests {{big}} NOT NULL DEFAULT 0,
  errors {{big}} NOT NULL DEFAULT 0,
  latency_ms {{big}} NOT NULL DEFAULT 0,
  latency_n {{big}} NOT NULL DEFAULT 0,
  probes {{big}} NOT NULL DEFAULT 0,
  probe_failures {{big}} NOT NULL DEFAULT 0,
  probe_ms {{big}} NOT NULL DEFAULT 0,
  PRIMARY KEY (component_id, minute)
);
CREATE TABLE status_subscribers (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  account_id TEXT,
  target TEXT NOT NULL,
  endpoint_id TEXT,
  components TEXT,
  created_at {{big}} NOT NULL,
  removed_at {{big}}
);
CREATE INDEX status_subscribers_account ON status_subscribers(account_id);
`,
};

// E-mail subscriptions to the status page (migration 16). An e-mail subscriber is a row of
// status_subscribers with kind 'email' and the address as `target`: `secret` derives its confirm
// and unsubscribe links (HMAC, emails.ts), `confirmed_at` is set once the address owner confirmed
// (only confirmed addresses receive notices), `lang` is the language of its e-mails. One live
// subscription per address and owner (the operator's and public sign-ups: account null).
// The outbox gains `channel`: 'webhook' (every delivery so far) or 'email' (endpoint_id is then
// the subscription's id).
export const STATUS_EMAIL_MIGRATION: Migration = {
  version: 16,
  name: 'status page: e-mail subscriptions; outbox channels',
  sql: `
ALTER TABLE status_subscribers ADD COLUMN secret TEXT;
ALTER TABLE status_subscribers ADD COLUMN lang TEXT;
ALTER TABLE status_subscribers ADD COLUMN confirmed_at {{big}};
CREATE UNIQUE INDEX status_subscribers_email ON status_subscribers(target, COALESCE(account_id, '')) WHERE kind = 'email' AND removed_at IS NULL;
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
`,
};
