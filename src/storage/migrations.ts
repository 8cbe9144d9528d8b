import type { Db, Engine } from './port.ts';
import { SqliteDb } from './sqlite/db.ts';
import { CONTRACTS_MIGRATION } from '../contracts/schema.ts';
import { STATUS_EMAIL_MIGRATION, STATUS_MIGRATION } from '../status/schema.ts';
import { INCIDENTS_MIGRATION } from '../incidents/schema.ts';
import { CLIENT_REF_ACCOUNT_MIGRATION, DETECTION_MIGRATION } from '../detection/schema.ts';
import { CONSOLE_MIGRATION } from '../console/schema.ts';
import { REQUEST_COUNTS_MIGRATION } from '../requests/schema.ts';
import { TRAFFIC_MIGRATION } from '../requests/traffic.ts';

// Versioned migrations, one SQL text for both engines with a few dialect tokens:
//   {{id}}   an auto-increment integer primary key
//   {{big}}  a 64-bit integer (money in nano-USD, epoch milliseconds, counters, flags)
//   {{now}}  the time the migration runs, epoch milliseconds (backfills of recent data)
// JSON is stored as TEXT on both engines. Never edit a released migration: add a new one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'spine: accounts, keys, ledger, top-ups, refunds, audit',
    sql: `
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  email TEXT,
  group_name TEXT NOT NULL DEFAULT 'default',
  credit_line {{big}} NOT NULL DEFAULT 0,
  spend_order TEXT,
  held {{big}} NOT NULL DEFAULT 0,
  last_topup_at {{big}},
  balance_expires_at {{big}},
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL
);

CREATE TABLE members (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  email TEXT NOT NULL,
  name TEXT,
  role TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  removed_at {{big}}
);
CREATE UNIQUE INDEX members_account_email ON members(account_id, email) WHERE removed_at IS NULL;

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  member_id TEXT REFERENCES members(id),
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  prefix TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  models TEXT,
  ips TEXT,
  expires_at {{big}},
  rpm {{big}},
  tpm {{big}},
  concurrency {{big}},
  limit_day {{big}},
  limit_month {{big}},
  limit_total {{big}},
  status TEXT NOT NULL DEFAULT 'active',
  created_at {{big}} NOT NULL,
  revoked_at {{big}}
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE key_spend (
  key_id TEXT NOT NULL,
  period TEXT NOT NULL,
  amount {{big}} NOT NULL,
  PRIMARY KEY (key_id, period)
);

CREATE TABLE books (
  code TEXT PRIMARY KEY,
  account_id TEXT,
  bucket TEXT NOT NULL,
  balance {{big}} NOT NULL DEFAULT 0,
  updated_at {{big}} NOT NULL
);
CREATE INDEX books_account ON books(account_id);

CREATE TABLE ledger_tx (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  account_id TEXT,
  amount {{big}} NOT NULL,
  memo TEXT,
  ref_type TEXT,
  ref_id TEXT,
  actor TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE INDEX ledger_tx_account ON ledger_tx(account_id, created_at);
CREATE INDEX ledger_tx_ref ON ledger_tx(ref_type, ref_id);

CREATE TABLE ledger_entries (
  id {{id}},
  tx_id TEXT NOT NULL,
  book TEXT NOT NULL,
  amount {{big}} NOT NULL
);
CREATE INDEX ledger_entries_tx ON ledger_entries(tx_id);
CREATE INDEX ledger_entries_book ON ledger_entries(book);

CREATE TABLE holds (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  key_id TEXT,
  amount {{big}} NOT NULL,
  posted {{big}} NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  reference TEXT,
  created_at {{big}} NOT NULL,
  expires_at {{big}} NOT NULL,
  settled_at {{big}},
  tx_id TEXT
);
CREATE INDEX holds_open ON holds(status, expires_at);
CREATE INDEX holds_account ON holds(account_id, status);

CREATE TABLE idempotency (
  scope TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  response TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  PRIMARY KEY (scope, idem_key)
);

CREATE TABLE topups (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  method TEXT NOT NULL,
  amount {{big}} NOT NULL,
  bonus {{big}} NOT NULL DEFAULT 0,
  reference TEXT,
  contract_number TEXT,
  invoiced {{big}} NOT NULL DEFAULT 0,
  refundable {{big}} NOT NULL DEFAULT 1,
  refunded {{big}} NOT NULL DEFAULT 0,
  bonus_clawed_back {{big}} NOT NULL DEFAULT 0,
  redemption_code_id TEXT,
  note TEXT,
  tx_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE INDEX topups_account ON topups(account_id, created_at);

CREATE TABLE refunds (
  id TEXT PRIMARY KEY,
  topup_id TEXT NOT NULL REFERENCES topups(id),
  account_id TEXT NOT NULL,
  amount {{big}} NOT NULL,
  fee {{big}} NOT NULL DEFAULT 0,
  payout {{big}} NOT NULL DEFAULT 0,
  bonus_clawback {{big}} NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  reason TEXT,
  decision_note TEXT,
  requested_by TEXT NOT NULL,
  decided_by TEXT,
  decided_at {{big}},
  tx_id TEXT,
  created_at {{big}} NOT NULL
);
CREATE INDEX refunds_account ON refunds(account_id, created_at);
CREATE INDEX refunds_status ON refunds(status);

CREATE TABLE redemption_batches (
  id TEXT PRIMARY KEY,
  amount {{big}} NOT NULL,
  count {{big}} NOT NULL,
  expires_at {{big}},
  bucket TEXT NOT NULL DEFAULT 'paid',
  note TEXT,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);

CREATE TABLE redemption_codes (
  id TEXT PRIMARY KEY,
  batch_id TEXT NOT NULL REFERENCES redemption_batches(id),
  hash TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  amount {{big}} NOT NULL,
  expires_at {{big}},
  redeemed_by TEXT,
  redeemed_at {{big}},
  topup_id TEXT
);
CREATE INDEX redemption_codes_batch ON redemption_codes(batch_id);

CREATE TABLE audit_log (
  id {{id}},
  at {{big}} NOT NULL,
  actor_type TEXT NOT NULL,
  actor_id TEXT NOT NULL,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  account_id TEXT,
  before_json TEXT,
  after_json TEXT
);
CREATE INDEX audit_log_target ON audit_log(target_type, target_id);
CREATE INDEX audit_log_account ON audit_log(account_id, at);

CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at {{big}} NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'data plane: channels, models, price book, request log',
    sql: `
CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  provider TEXT NOT NULL,
  base_url TEXT NOT NULL,
  keys TEXT NOT NULL,
  models TEXT NOT NULL,
  model_map TEXT,
  priority {{big}} NOT NULL DEFAULT 0,
  weight {{big}} NOT NULL DEFAULT 1,
  timeouts TEXT,
  headers TEXT,
  enabled {{big}} NOT NULL DEFAULT 1,
  created_at {{big}} NOT NULL,
  updated_at {{big}} NOT NULL
);

CREATE TABLE models (
  id TEXT PRIMARY KEY,
  family TEXT NOT NULL,
  kind TEXT NOT NULL,
  price_version {{big}} NOT NULL,
  price TEXT NOT NULL,
  options TEXT,
  enabled {{big}} NOT NULL DEFAULT 1,
  updated_at {{big}} NOT NULL
);

CREATE TABLE price_book (
  model_id TEXT NOT NULL,
  version {{big}} NOT NULL,
  price TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  PRIMARY KEY (model_id, version)
);

CREATE TABLE group_multipliers (
  group_name TEXT PRIMARY KEY,
  multiplier TEXT NOT NULL,
  updated_at {{big}} NOT NULL
);

CREATE TABLE request_log (
  id TEXT PRIMARY KEY,
  account_id TEXT,
  key_id TEXT,
  member_id TEXT,
  endpoint TEXT NOT NULL,
  protocol TEXT NOT NULL,
  model TEXT,
  upstream_model TEXT,
  channel_id TEXT,
  attempts TEXT,
  started_at {{big}} NOT NULL,
  first_byte_at {{big}},
  ended_at {{big}} NOT NULL,
  duration_ms {{big}} NOT NULL,
  stream {{big}} NOT NULL DEFAULT 0,
  status {{big}} NOT NULL,
  outcome TEXT NOT NULL,
  error_code TEXT,
  error TEXT,
  usage_raw TEXT,
  usage_billable TEXT,
  usage_estimated {{big}} NOT NULL DEFAULT 0,
  price_version {{big}},
  hold_amount {{big}} NOT NULL DEFAULT 0,
  amount {{big}} NOT NULL DEFAULT 0,
  tx_id TEXT,
  delivered TEXT,
  client_ip TEXT
);
CREATE INDEX request_log_account_time ON request_log(account_id, started_at);
CREATE INDEX request_log_time ON request_log(started_at);
CREATE INDEX request_log_model_time ON request_log(model, started_at);
`,
  },
  {
    version: 3,
    name: 'account rate limits',
    sql: `
ALTER TABLE accounts ADD COLUMN rpm {{big}};
ALTER TABLE accounts ADD COLUMN tpm {{big}};
`,
  },
  {
    version: 4,
    name: 'models: family renamed to provider (one name with channels)',
    sql: `
ALTER TABLE models RENAME COLUMN family TO provider;
`,
  },
  {
    // Credits: one row per credit into a customer's granted bucket, pointing at its journal
    // transaction; a batch pays each account at most once (unique batch + account).
    // Keys: the limits an operator set on a key (op_*), which customers may tighten but never
    // loosen. Existing keys' limits are taken as operator-set: the safe reading of the past.
    version: 5,
    name: 'credits; operator-set key limits',
    sql: `
CREATE TABLE credits (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  kind TEXT NOT NULL,
  amount {{big}} NOT NULL,
  ref_type TEXT,
  ref_id TEXT,
  memo TEXT,
  batch_id TEXT,
  tx_id TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL
);
CREATE INDEX credits_account ON credits(account_id, created_at);
CREATE INDEX credits_ref ON credits(ref_type, ref_id);
CREATE UNIQUE INDEX credits_batch_account ON credits(batch_id, account_id) WHERE batch_id IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN op_models TEXT;
ALTER TABLE api_keys ADD COLUMN op_ips TEXT;
ALTER TABLE api_keys ADD COLUMN op_expires_at {{big}};
ALTER TABLE api_keys ADD COLUMN op_rpm {{big}};
ALTER TABLE api_keys ADD COLUMN op_tpm {{big}};
ALTER TABLE api_keys ADD COLUMN op_concurrency {{big}};
ALTER TABLE api_keys ADD COLUMN op_limit_day {{big}};
ALTER TABLE api_keys ADD COLUMN op_limit_month {{big}};
ALTER TABLE api_keys ADD COLUMN op_limit_total {{big}};
UPDATE api_keys SET op_models = models, op_ips = ips, op_expires_at = expires_at, op_rpm = rpm, op_tpm = tpm, op_concurrency = concurrency,
  op_limit_day = limit_day, op_limit_month = limit_month, op_limit_total = limit_total;
`,
  },
  {
    version: 6,
    name: 'request log: one name for the provider API',
    sql: `
ALTER TABLE request_log RENAME COLUMN protocol TO provider;
`,
  },
  DETECTION_MIGRATION,
  INCIDENTS_MIGRATION,
  {
    version: 9,
    name: 'request log: the upstream API beside the caller API (translation)',
    sql: `
ALTER TABLE request_log ADD COLUMN upstream_provider TEXT;
`,
  },
  {
    version: 10,
    name: 'several instances: the instance registry and job leases',
    sql: `
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid {{big}} NOT NULL,
  url TEXT,
  shared {{big}} NOT NULL,
  started_at {{big}} NOT NULL,
  seen_at {{big}} NOT NULL,
  stopped_at {{big}}
);
CREATE TABLE job_leases (
  job TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at {{big}} NOT NULL,
  taken_at {{big}} NOT NULL
);
`,
  },
  STATUS_MIGRATION,
  CONTRACTS_MIGRATION,
  CONSOLE_MIGRATION,
  REQUEST_COUNTS_MIGRATION,
  STATUS_EMAIL_MIGRATION,
  TRAFFIC_MIGRATION,
  CLIENT_REF_ACCOUNT_MIGRATION,
];

function render(sql: string, engine: Engine): string {
  const id = engine === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const big = engine === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return sql.replaceAll('{{id}}', id).replaceAll('{{big}}', big).replaceAll('{{now}}', String(Date.now()));
}

/** Applies pending migrations in order, each in its own transaction. Returns the versions applied. */
export async function migrate(db: Db): Promise<number[]> {
  await db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (version ${db.engine === 'sqlite' ? 'INTEGER' : 'BIGINT'} PRIMARY KEY, name TEXT NOT NULL, applied_at ${db.engine === 'sqlite' ? 'INTEGER' : 'BIGINT'} NOT NULL)`);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    const done = await db.tx(async (q) => {
      if (db.engine === 'postgres') await q.run('SELECT pg_advisory_xact_lock(7419001)');
      const has = await q.get('SELECT version FROM schema_migrations WHERE version = ?', [m.version]);
      if (has) return false;
      const statements = render(m.sql, db.engine)
        .split(/;\s*\n/)
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of statements) {
        if (db instanceof SqliteDb) db.exec(s);
        else await q.run(s);
      }
      await q.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Date.now()]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

export async function schemaVersion(db: Db): Promise<number> {
  const r = await db.get<{ v: bigint | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(r?.v ?? 0);
}
