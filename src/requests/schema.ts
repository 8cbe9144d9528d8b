// The ONE declaration of a request-log row. Storage columns, the normalisation every row goes
// through before it is queued, the API views (operator and customer) and the CSV/NDJSON export
// are all derived from REQUEST_COLUMNS below; `RequestRow` is tied to it by the compiler.

import { ERRORS, type ErrorCode } from '../kernel/errors.ts';
import type { Dataset } from '../kernel/export.ts';
import { INT64_MAX, formatUsd } from '../kernel/money.ts';
import { big, num, optNum, str, type Row, type SqlValue } from '../storage/port.ts';
import type { Migration } from '../storage/migrations.ts';
import { OUTCOMES, type Outcome } from './outcomes.ts';

export interface RequestRow {
  id: string;
  account_id: string | null;
  key_id: string | null;
  member_id: string | null;
  endpoint: string;
  provider: string;
  model: string | null;
  upstream_model: string | null;
  channel_id: string | null;
  attempts: AttemptRecord[];
  started_at: number;
  first_byte_at: number | null;
  ended_at: number;
  duration_ms: number;
  stream: boolean;
  status: number;
  outcome: Outcome;
  error_code: string | null;
  error: string | null;
  usage_raw: unknown;
  usage_billable: unknown;
  usage_estimated: boolean;
  price_version: number | null;
  hold_amount: bigint;
  amount: bigint;
  tx_id: string | null;
  delivered: unknown;
  client_ip: string | null;
  upstream_provider: string | null;
  /** The client's own reference of the request (its Idempotency-Key, else its x-request-id), when it sent one. */
  client_ref?: string | null;
}

/** One upstream attempt of a request, as kept in the row. */
export interface AttemptRecord {
  channel: string;
  status: number;
  outcome: Outcome;
  ms: number;
  error?: string;
}

type Kind = 'text' | 'int' | 'time' | 'bool' | 'json' | 'money';

interface Column {
  kind: Kind;
  /** NOT NULL in storage: a missing value is replaced (and reported) rather than failing the batch. */
  required?: true;
  /** Name in the API view and exports when it differs from the column. */
  as?: string;
  /** Whether a customer sees it (default yes); operators see every column. */
  customer?: false;
  /** In the CSV export (default yes): long JSON goes last. */
  csv?: false;
  /** In the log exports (default yes); a column added after an export version was released waits for its next version. */
  exported?: false;
}

/** Storage order = declaration order (the migration's column order). */
export const REQUEST_COLUMNS = {
  id: { kind: 'text', required: true },
  account_id: { kind: 'text' },
  key_id: { kind: 'text' },
  member_id: { kind: 'text' },
  endpoint: { kind: 'text', required: true },
  // The provider API the client spoke (openai, anthropic, gemini).
  provider: { kind: 'text', required: true },
  model: { kind: 'text' },
  upstream_model: { kind: 'text', customer: false },
  channel_id: { kind: 'text', customer: false },
  attempts: { kind: 'json' },
  started_at: { kind: 'time', required: true },
  first_byte_at: { kind: 'time' },
  ended_at: { kind: 'time', required: true },
  duration_ms: { kind: 'int', required: true },
  stream: { kind: 'bool' },
  status: { kind: 'int', required: true },
  outcome: { kind: 'text', required: true },
  error_code: { kind: 'text' },
  error: { kind: 'text' },
  usage_raw: { kind: 'json' },
  usage_billable: { kind: 'json' },
  usage_estimated: { kind: 'bool' },
  price_version: { kind: 'int' },
  hold_amount: { kind: 'money', required: true, as: 'hold' },
  amount: { kind: 'money', required: true },
  tx_id: { kind: 'text' },
  delivered: { kind: 'json' },
  client_ip: { kind: 'text' },
  // The provider API of the channel that answered: another than `provider` when translated.
  upstream_provider: { kind: 'text' },
  client_ref: { kind: 'text', exported: false },
} as const satisfies Record<keyof RequestRow, Column>;

type ColumnName = keyof typeof REQUEST_COLUMNS;
const DECLARED = Object.keys(REQUEST_COLUMNS) as ColumnName[];
const col = (c: ColumnName): Column => REQUEST_COLUMNS[c];

/**
 * Integer copies of counts kept in the JSON columns, stored beside them (migration 15) so that SQL
 * compares integers where it would otherwise parse JSON on every row: the abnormal-billing scan's
 * prefilter (detection/prefilter.ts) reads them over the whole log. Each is derived from the row as
 * it is stored (a property read, no JSON work) and is in no view or export (its JSON column is).
 * A count is the JSON value when that is a safe integer (a boolean is 1 or 0), 0 when the key is
 * absent, and NULL when the JSON column is null or holds anything else there — and for every row
 * stored before migration 15 (no backfill): a reader then falls back to the JSON
 * (`COALESCE(column, json_extract(...))`), so that both always read the same value.
 */
export const COUNT_COLUMNS = {
  input_tokens: { from: 'usage_billable', key: 'input_tokens' },
  cached_input_tokens: { from: 'usage_billable', key: 'cached_input_tokens' },
  cache_write_tokens: { from: 'usage_billable', key: 'cache_write_tokens' },
  output_tokens: { from: 'usage_billable', key: 'output_tokens' },
  image_input_tokens: { from: 'usage_billable', key: 'image_input_tokens' },
  image_output_tokens: { from: 'usage_billable', key: 'image_output_tokens' },
  images: { from: 'usage_billable', key: 'images' },
  delivered_images: { from: 'delivered', key: 'images' },
  delivered_text_chars: { from: 'delivered', key: 'text_chars' },
  usage_regressed: { from: 'delivered', key: 'usage_regressed' },
} as const satisfies Record<string, { from: 'usage_billable' | 'delivered'; key: string }>;
export type CountColumn = keyof typeof COUNT_COLUMNS;
/** Each count with the position of its JSON column among the declared ones. */
const COUNTS = Object.values(COUNT_COLUMNS).map((c) => ({ ...c, at: (Object.keys(REQUEST_COLUMNS) as string[]).indexOf(c.from) }));

/** The columns a row is stored in, in the order of storageValues: the declared ones, then the counts. */
export const STORAGE_COLUMNS: readonly string[] = [...DECLARED, ...Object.keys(COUNT_COLUMNS)];

function countOf(json: unknown, key: string): number | null {
  if (typeof json !== 'object' || json === null) return null;
  const v = (json as Record<string, unknown>)[key];
  if (v === undefined) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  return typeof v === 'boolean' ? (v ? 1 : 0) : null;
}

/** The request log's count columns (COUNT_COLUMNS), written out (a released migration never changes); no backfill (see above). */
export const REQUEST_COUNTS_MIGRATION: Migration = {
  version: 15,
  name: 'request log: integer copies of the billable and delivered counts (the detection scan reads them)',
  sql: `
ALTER TABLE request_log ADD COLUMN input_tokens {{big}};
ALTER TABLE request_log ADD COLUMN cached_input_tokens {{big}};
ALTER TABLE request_log ADD COLUMN cache_write_tokens {{big}};
ALTER TABLE request_log ADD COLUMN output_tokens {{big}};
ALTER TABLE request_log ADD COLUMN image_input_tokens {{big}};
ALTER TABLE request_log ADD COLUMN image_output_tokens {{big}};
ALTER TABLE request_log ADD COLUMN images {{big}};
ALTER TABLE request_log ADD COLUMN delivered_images {{big}};
ALTER TABLE request_log ADD COLUMN delivered_text_chars {{big}};
ALTER TABLE request_log ADD COLUMN usage_regressed {{big}};
`,
};

// ---- storage ----

/** A text both engines store: no NUL (PostgreSQL refuses it), at most `max` characters. */
function storableText(v: string, max = 10_000): string {
  const t = v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
  return t.length > max ? t.slice(0, max) : t;
}

const bigintAsString = (_k: string, x: unknown) => (typeof x === 'bigint' ? x.toString() : x);

function storableJson(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  try {
    // Without a replacer first: a replacer is called for every key, and rows rarely hold a bigint.
    return JSON.stringify(v) ?? null;
  } catch {
    try {
      return JSON.stringify(v, bigintAsString) ?? null;
    } catch {
      return null;
    }
  }
}

/**
 * Makes a row storable in place and names what it had to change. A value of the wrong type (an
 * undefined client IP from a half-closed socket, a NaN, a NUL byte in a model name) is replaced by
 * what can be stored, so that one bad row can never fail the batch it is in.
 */
export function normaliseRow(r: RequestRow): string[] {
  const problems: string[] = [];
  const row = r as unknown as Record<string, unknown>;
  for (const name of DECLARED) {
    const { kind, required } = col(name);
    const v = row[name];
    let x: unknown = v;
    if (kind === 'text') x = typeof v === 'string' ? storableText(v) : v === null || v === undefined ? null : storableText(String(v));
    else if (kind === 'int' || kind === 'time') x = typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
    else if (kind === 'money') x = typeof v === 'bigint' && v >= 0n && v <= INT64_MAX ? v : null;
    else if (kind === 'bool') x = v === true;
    if (x === null && required) x = kind === 'text' ? '' : kind === 'money' ? 0n : 0;
    if (name === 'outcome' && !(String(x) in OUTCOMES)) x = 'platform_error';
    if (x !== v && !(x === null && v === undefined)) problems.push(`${name}: ${typeof v === 'string' ? 'not storable as given' : String(v)}`);
    row[name] = x;
  }
  return problems;
}

/** The row's values in STORAGE_COLUMNS order (after normaliseRow). */
export function storageValues(r: RequestRow): SqlValue[] {
  const row = r as unknown as Record<string, unknown>;
  const out: SqlValue[] = DECLARED.map((name) => {
    const kind = col(name).kind;
    const v = row[name];
    if (kind === 'json') return storableJson(v);
    if (kind === 'bool') return v ? 1 : 0;
    return (v ?? null) as SqlValue;
  });
  // From the object just stored as JSON; none when it could not be (the JSON column is null then).
  for (const c of COUNTS) out.push(out[c.at] === null ? null : countOf(row[c.from], c.key));
  return out;
}

// ---- the API views and exports ----

export type Audience = 'operator' | 'customer';

function viewValue(kind: Kind, v: unknown): unknown {
  if (v === null || v === undefined) return kind === 'bool' ? false : null;
  switch (kind) {
    case 'time':
      return new Date(num(v)).toISOString();
    case 'int':
      return optNum(v);
    case 'bool':
      return num(v) === 1;
    case 'money':
      return formatUsd(big(v));
    case 'json':
      return typeof v === 'string' ? (v === '' ? null : JSON.parse(v)) : v;
    default:
      return str(v);
  }
}

/**
 * What a customer sees instead of operator detail: the attempts without channel names or upstream
 * texts, and the public message of the row's error code (never the upstream's own error body).
 */
const CUSTOMER_REDACTIONS: Partial<Record<ColumnName, (value: unknown, row: Row) => unknown>> = {
  attempts: (v) => (Array.isArray(v) ? v.map((a: AttemptRecord) => ({ status: a.status, outcome: a.outcome, ms: a.ms })) : v),
  error: (_v, row) => publicMessage(row),
};

/** The message a customer reads for a row: its error code's registered message, else its outcome's meaning. */
export function publicMessage(row: Row): string | null {
  const code = row.error_code as string | null | undefined;
  if (code && code in ERRORS) return ERRORS[code as ErrorCode].message;
  const outcome = row.outcome as Outcome | undefined;
  return outcome && outcome !== 'ok' && outcome in OUTCOMES ? OUTCOMES[outcome].meaning : null;
}

/** A stored row (from the database) as the API shows it to an operator or a customer. */
export function requestView(r: Row, audience: Audience = 'operator'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of DECLARED) {
    const c: Column = col(name);
    if (audience === 'customer' && c.customer === false) continue;
    let v = viewValue(c.kind, r[name]);
    const redact = audience === 'customer' ? CUSTOMER_REDACTIONS[name] : undefined;
    if (redact) v = redact(v, r);
    out[c.as ?? name] = v;
  }
  return out;
}

/** The columns of an export for an audience, in the view's names; long JSON columns last. */
export function exportColumns(audience: Audience): string[] {
  const visible = DECLARED.filter((n) => col(n).exported !== false && (audience === 'operator' || col(n).customer !== false));
  const short = visible.filter((n) => col(n).kind !== 'json' && n !== 'error');
  const long = visible.filter((n) => col(n).kind === 'json' || n === 'error');
  return [...short, ...long].map((n) => col(n).as ?? n);
}

/**
 * The request-log datasets of the uniform export (docs/export.md), one per audience. Their
 * columns are derived from REQUEST_COLUMNS above; test/unit/requests/schema.test.ts pins the
 * current version's columns, so a change to the declaration that changes an export must bump the
 * version (2: `upstream_provider`, the API of the channel that answered).
 */
export const REQUEST_LOG_EXPORT_VERSION = 2;
export const REQUEST_LOG_DATASETS: Record<Audience, Dataset> = {
  operator: { name: 'request-log', version: REQUEST_LOG_EXPORT_VERSION, columns: exportColumns('operator'), accountColumn: 'account_id', amountColumns: ['amount'] },
  customer: { name: 'request-log.customer', version: REQUEST_LOG_EXPORT_VERSION, columns: exportColumns('customer'), accountColumn: 'account_id', amountColumns: ['amount'] },
};
