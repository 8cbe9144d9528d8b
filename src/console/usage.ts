import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import { isoTime } from '../kernel/validation.ts';
import type { Dataset } from '../kernel/export.ts';
import { big, str, type Db, type SqlValue } from '../storage/port.ts';
import { OUTCOMES, OUTCOME_NAMES, type Outcome } from '../requests/outcomes.ts';

// Usage analytics over the request log: requests, tokens, spend and outcomes grouped by day,
// model, key, member, outcome (or account, for operators), for a time range. Days are calendar
// days in the viewer's time zone, given as its offset from UTC in minutes (`tz_offset_minutes`,
// e.g. 480 for UTC+8); without it, UTC days. Amounts are decimal strings of USD, never floats.

export const DAY_MS = 86_400_000;
export const GROUPS = ['day', 'model', 'key', 'member', 'outcome', 'account'] as const;
export type GroupBy = (typeof GROUPS)[number];
const SORTS = ['group', 'requests', 'spend', 'input_tokens', 'output_tokens'] as const;

export const UsageQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    group_by: z.enum(GROUPS).optional(),
    account_id: z.string().optional(),
    key_id: z.string().optional(),
    model: z.string().optional(),
    tz_offset_minutes: z.coerce.number().int().min(-840).max(840).optional(),
    // The shared convention (sort=spend, sort=-spend); `order` is kept for older clients.
    sort: z.string().regex(new RegExp(`^-?(${SORTS.join('|')})$`), `must be one of ${SORTS.join(', ')}, optionally prefixed with - for descending`).optional(),
    order: z.enum(['asc', 'desc']).optional(),
    format: z.enum(['json', 'csv', 'ndjson']).optional(),
  })
  .strict();
export type UsageFilter = z.infer<typeof UsageQuery> & { account_id?: string };

/** The uniform export's dataset of a usage table (docs/export.md). */
export const USAGE_DATASET: Dataset = {
  name: 'usage',
  version: 1,
  columns: ['account_id', 'group_by', 'group', 'requests', 'ok', 'client_faults', 'upstream_faults', 'platform_faults', 'input_tokens', 'output_tokens', 'spend'],
  accountColumn: 'account_id',
  amountColumns: ['spend'],
};

const FAULT_SQL = (fault: string) => {
  const names = OUTCOME_NAMES.filter((o) => OUTCOMES[o].fault === fault).map((o) => `'${o}'`);
  return `CAST(SUM(CASE WHEN outcome IN (${names.join(', ')}) THEN 1 ELSE 0 END) AS BIGINT)`;
};

function tokens(db: Db, field: string): string {
  return db.engine === 'sqlite'
    ? `CAST(SUM(COALESCE(json_extract(usage_billable, '$.${field}'), 0)) AS BIGINT)`
    : `CAST(SUM(COALESCE((usage_billable::jsonb->>'${field}')::bigint, 0)) AS BIGINT)`;
}

/** The day a time falls on in the viewer's zone, as a number of days since 1970-01-01 there. */
export function dayExpr(offsetMinutes: number): string {
  return `CAST((started_at + ${offsetMinutes * 60_000}) / ${DAY_MS} AS BIGINT)`;
}

/** "2026-12-01" for a day number. */
export function dayLabel(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

const GROUP_COLUMN: Record<Exclude<GroupBy, 'day'>, string> = { model: 'model', key: 'key_id', member: 'member_id', outcome: 'outcome', account: 'account_id' };

export function whereOf(f: UsageFilter): { sql: string; params: SqlValue[] } {
  const w: string[] = [];
  const params: SqlValue[] = [];
  if (f.account_id !== undefined) (w.push('account_id = ?'), params.push(f.account_id));
  if (f.key_id !== undefined) (w.push('key_id = ?'), params.push(f.key_id));
  if (f.model !== undefined) (w.push('model = ?'), params.push(f.model));
  if (f.from !== undefined) (w.push('started_at >= ?'), params.push(f.from));
  if (f.to !== undefined) (w.push('started_at < ?'), params.push(f.to));
  return { sql: w.length ? `WHERE ${w.join(' AND ')}` : '', params };
}

export interface UsageRow {
  account_id: string | null;
  group_by: GroupBy;
  group: string | null;
  requests: number;
  ok: number;
  client_faults: number;
  upstream_faults: number;
  platform_faults: number;
  input_tokens: number;
  output_tokens: number;
  spend: string;
}

/** The usage table for a filter: one row per group, sorted as asked (default: by group; days ascending). */
export async function usageTable(db: Db, f: UsageFilter): Promise<UsageRow[]> {
  const by: GroupBy = f.group_by ?? 'day';
  if (f.from !== undefined && f.to !== undefined && f.to <= f.from) throw new AppError('VALIDATION', 'to: must be after from', { field: 'to' });
  const expr = by === 'day' ? dayExpr(f.tz_offset_minutes ?? 0) : GROUP_COLUMN[by];
  const w = whereOf(f);
  const desc = f.sort?.startsWith('-') ?? false;
  const name = (desc ? f.sort!.slice(1) : (f.sort ?? 'group')) as (typeof SORTS)[number];
  const sortCol = { group: 'g', requests: 'requests', spend: 'spend', input_tokens: 'input_tokens', output_tokens: 'output_tokens' }[name];
  const order = desc ? 'desc' : (f.order ?? (f.sort && name !== 'group' ? 'desc' : 'asc'));
  const rows = await db.all(
    `SELECT ${expr} AS g, COUNT(*) AS requests, ${FAULT_SQL('none')} AS ok, ${FAULT_SQL('client')} AS client_faults, ${FAULT_SQL('upstream')} AS upstream_faults,
            ${FAULT_SQL('platform')} AS platform_faults, ${tokens(db, 'input_tokens')} AS input_tokens, ${tokens(db, 'output_tokens')} AS output_tokens, CAST(SUM(amount) AS BIGINT) AS spend
       FROM request_log ${w.sql} GROUP BY ${expr} ORDER BY ${sortCol} ${order}, g LIMIT 1000`,
    w.params,
  );
  return rows.map((r) => ({
    account_id: f.account_id ?? null,
    group_by: by,
    group: r.g === null || r.g === undefined ? null : by === 'day' ? dayLabel(Number(r.g)) : str(r.g),
    requests: Number(r.requests),
    ok: Number(r.ok ?? 0),
    client_faults: Number(r.client_faults ?? 0),
    upstream_faults: Number(r.upstream_faults ?? 0),
    platform_faults: Number(r.platform_faults ?? 0),
    input_tokens: Number(r.input_tokens ?? 0),
    output_tokens: Number(r.output_tokens ?? 0),
    spend: formatUsd(big(r.spend ?? 0)),
  }));
}

/** Spend and requests per (day, model) since `from`: the overview's chart. */
export async function dailyByModel(db: Db, accountId: string | null, from: number, offsetMinutes: number): Promise<Array<{ day: string; model: string | null; requests: number; spend: string }>> {
  const w = whereOf({ ...(accountId ? { account_id: accountId } : {}), from });
  const d = dayExpr(offsetMinutes);
  const rows = await db.all(`SELECT ${d} AS d, model, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS spend FROM request_log ${w.sql} GROUP BY ${d}, model ORDER BY d, model`, w.params);
  return rows.map((r) => ({ day: dayLabel(Number(r.d)), model: (r.model as string | null) ?? null, requests: Number(r.n), spend: formatUsd(big(r.spend ?? 0)) }));
}

/** Requests per outcome since `from` (the operator dashboard). */
export async function outcomeCounts(db: Db, from: number): Promise<Array<{ outcome: Outcome; requests: number }>> {
  const rows = await db.all('SELECT outcome, COUNT(*) AS n FROM request_log WHERE started_at >= ? GROUP BY outcome ORDER BY n DESC', [from]);
  return rows.map((r) => ({ outcome: str(r.outcome) as Outcome, requests: Number(r.n) }));
}

/** Midnight of today in the viewer's zone, as epoch ms, and the first of this month. */
export function dayStarts(now: number, offsetMinutes: number): { today: number; month: number } {
  const off = offsetMinutes * 60_000;
  const local = new Date(now + off);
  const today = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate()) - off;
  const month = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), 1) - off;
  return { today, month };
}
