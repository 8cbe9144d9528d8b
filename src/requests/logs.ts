import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import type { Actor, Runtime } from '../kernel/context.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { isoTime, parseInput } from '../kernel/validation.ts';
import { big, json, num, optNum, str, type Row, type SqlValue } from '../storage/port.ts';
import type { RouteTable } from '../http/routes.ts';
import { OUTCOMES } from './outcomes.ts';

// Request logs for operators (every account) and customers (their own), as JSON pages or as a
// streamed CSV / NDJSON export of any size (constant memory: a cursor on both engines).

const outcome = z.enum(Object.keys(OUTCOMES) as [keyof typeof OUTCOMES, ...Array<keyof typeof OUTCOMES>]);
export const LogFilter = z
  .object({
    account_id: z.string().optional(),
    key_id: z.string().optional(),
    model: z.string().optional(),
    outcome: outcome.optional(),
    channel_id: z.string().optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    before: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
    format: z.enum(['json', 'csv', 'ndjson']).optional(),
  })
  .strict();
type Filter = z.infer<typeof LogFilter>;

export function logView(r: Row): Record<string, unknown> {
  return {
    id: str(r.id),
    account_id: r.account_id ?? null,
    key_id: r.key_id ?? null,
    member_id: r.member_id ?? null,
    endpoint: str(r.endpoint),
    protocol: str(r.protocol),
    model: r.model ?? null,
    upstream_model: r.upstream_model ?? null,
    channel_id: r.channel_id ?? null,
    attempts: json(r.attempts, []),
    started_at: new Date(num(r.started_at)).toISOString(),
    first_byte_at: optNum(r.first_byte_at) === null ? null : new Date(num(r.first_byte_at)).toISOString(),
    ended_at: new Date(num(r.ended_at)).toISOString(),
    duration_ms: num(r.duration_ms),
    stream: num(r.stream) === 1,
    status: num(r.status),
    outcome: str(r.outcome),
    error_code: r.error_code ?? null,
    error: r.error ?? null,
    usage_raw: json(r.usage_raw, null),
    usage_billable: json(r.usage_billable, null),
    usage_estimated: num(r.usage_estimated) === 1,
    price_version: optNum(r.price_version),
    hold: formatUsd(big(r.hold_amount)),
    amount: formatUsd(big(r.amount)),
    tx_id: r.tx_id ?? null,
    delivered: json(r.delivered, null),
    client_ip: r.client_ip ?? null,
  };
}

const CSV_COLUMNS = [
  'id', 'started_at', 'ended_at', 'duration_ms', 'account_id', 'key_id', 'member_id', 'endpoint', 'protocol', 'model', 'upstream_model', 'channel_id', 'stream',
  'status', 'outcome', 'error_code', 'usage_estimated', 'price_version', 'amount', 'tx_id', 'client_ip', 'usage_billable', 'usage_raw', 'delivered', 'attempts', 'error',
] as const;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function where(f: Filter): { sql: string; params: SqlValue[] } {
  const w: string[] = [];
  const params: SqlValue[] = [];
  const eq = (col: string, v: string | undefined) => {
    if (v !== undefined) (w.push(`${col} = ?`), params.push(v));
  };
  eq('account_id', f.account_id);
  eq('key_id', f.key_id);
  eq('model', f.model);
  eq('outcome', f.outcome);
  eq('channel_id', f.channel_id);
  if (f.from !== undefined) (w.push('started_at >= ?'), params.push(f.from));
  if (f.to !== undefined) (w.push('started_at < ?'), params.push(f.to));
  if (f.before !== undefined) (w.push('id < ?'), params.push(f.before));
  return { sql: w.length ? `WHERE ${w.join(' AND ')}` : '', params };
}

export function registerLogRoutes(t: RouteTable, rt: Runtime): void {
  const handler = (scope: (a: Actor, f: Filter) => Filter) => async (c: Parameters<Parameters<RouteTable['add']>[1]>[0]) => {
    const f = scope(c.actor, parseInput(LogFilter, c.query, 'query'));
    const w = where(f);
    const format = f.format ?? 'json';
    if (format === 'json') {
      const limit = f.limit ?? 100;
      const rows = await rt.db.all(`SELECT * FROM request_log ${w.sql} ORDER BY id DESC LIMIT ?`, [...w.params, limit]);
      return { data: rows.map(logView), next_before: rows.length === limit ? str(rows.at(-1)!.id) : null };
    }
    const sql = `SELECT * FROM request_log ${w.sql} ORDER BY id ${f.limit ? `DESC LIMIT ${f.limit}` : 'ASC'}`;
    const res = c.reply.raw;
    c.reply.hijack();
    res.writeHead(200, {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      'content-disposition': `attachment; filename="surety-logs.${format}"`,
    });
    if (format === 'csv') res.write(`${CSV_COLUMNS.join(',')}\n`);
    try {
      for await (const r of rt.db.stream(sql, w.params)) {
        const v = logView(r);
        const line = format === 'csv' ? `${CSV_COLUMNS.map((k) => csvCell(v[k])).join(',')}\n` : `${JSON.stringify(v)}\n`;
        if (!res.write(line)) await new Promise((ok) => res.once('drain', ok));
        if (res.destroyed) break;
      }
    } catch (err) {
      rt.log.error({ err }, 'log export failed');
    }
    res.end();
    return undefined;
  };
  t.add({ method: 'GET', url: '/admin/v1/logs', auth: 'operator', tag: 'logs', summary: 'Request logs (filters; format=json|csv|ndjson streams every matching row)', query: LogFilter }, handler((_a, f) => f));
  t.add({ method: 'GET', url: '/admin/v1/logs/:id', auth: 'operator', tag: 'logs', summary: 'One request log row' }, async (c) => {
    const r = await rt.db.get('SELECT * FROM request_log WHERE id = ?', [c.params.id!]);
    if (!r) throw new AppError('NOT_FOUND', `request ${c.params.id} not found`, { resource: 'request' });
    return logView(r);
  });
  t.add(
    { method: 'GET', url: '/account/v1/logs', auth: 'customer', tag: 'account', summary: 'Your request logs (filters; format=json|csv|ndjson)', query: LogFilter },
    handler((a, f) => {
      if (a.type !== 'customer') throw new AppError('FORBIDDEN');
      requireRole(a, a.accountId, 'viewer');
      if (f.account_id !== undefined && f.account_id !== a.accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
      return { ...f, account_id: a.accountId };
    }),
  );
}
