// The tables of the ONE outbox (outbox.ts): where notices are sent (webhook endpoints, an
// account's or the operator's) and every delivery with its attempts. Part of migration 8
// (incidents/schema.ts), which introduced the outbox together with its first user.
export const OUTBOX_SQL = `
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  account_id TEXT,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  topics TEXT NOT NULL,
  description TEXT,
  enabled {{big}} NOT NULL DEFAULT 1,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  disabled_at {{big}}
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id);

CREATE TABLE outbox (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  idem_key TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  account_id TEXT,
  endpoint_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts {{big}} NOT NULL DEFAULT 0,
  next_attempt_at {{big}} NOT NULL,
  last_status {{big}},
  last_error TEXT,
  created_at {{big}} NOT NULL,
  delivered_at {{big}}
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_endpoint ON outbox(endpoint_id, created_at);
CREATE INDEX outbox_account ON outbox(account_id, created_at);
`;
