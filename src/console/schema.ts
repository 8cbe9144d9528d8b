import type { Migration } from '../storage/migrations.ts';

// The console's tables (migration 11): browser sessions, passwords of members and operator
// accounts, invitation links, and the notices of bank transfers that enterprises send.
// Secrets (session tokens, invitation tokens) are stored only as SHA-256 hashes; passwords only as
// scrypt hashes (passwords.ts).
export const CONSOLE_MIGRATION: Migration = {
  version: 11,
  name: 'console: sessions, member passwords, operator accounts, invitations, transfer notices',
  sql: `
CREATE TABLE console_sessions (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  csrf TEXT NOT NULL,
  kind TEXT NOT NULL,
  via TEXT NOT NULL,
  account_id TEXT,
  key_hash TEXT,
  member_id TEXT,
  operator_id TEXT,
  ip TEXT,
  user_agent TEXT,
  created_at {{big}} NOT NULL,
  seen_at {{big}} NOT NULL,
  expires_at {{big}} NOT NULL,
  ended_at {{big}}
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);

CREATE TABLE member_passwords (
  member_id TEXT PRIMARY KEY REFERENCES members(id),
  hash TEXT NOT NULL,
  updated_at {{big}} NOT NULL
);

CREATE TABLE operator_accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT,
  password_hash TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  disabled_at {{big}}
);

CREATE TABLE console_invitations (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  member_id TEXT NOT NULL REFERENCES members(id),
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  expires_at {{big}} NOT NULL,
  used_at {{big}}
);

CREATE TABLE transfer_notices (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  amount {{big}} NOT NULL,
  paid_on TEXT NOT NULL,
  payer TEXT NOT NULL,
  reference TEXT NOT NULL,
  contract_number TEXT,
  note TEXT,
  receipt_name TEXT,
  receipt_type TEXT,
  receipt TEXT,
  status TEXT NOT NULL,
  topup_id TEXT,
  decision_note TEXT,
  created_by TEXT NOT NULL,
  created_at {{big}} NOT NULL,
  decided_by TEXT,
  decided_at {{big}}
);
CREATE INDEX transfer_notices_status ON transfer_notices(status, created_at);
CREATE INDEX transfer_notices_account ON transfer_notices(account_id, created_at);
`,
};
