import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import type { Actor, Runtime } from '../kernel/context.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { isoTime, parseInput } from '../kernel/validation.ts';
import { str, type SqlValue } from '../storage/port.ts';
import { EXPORT_CONTENT_TYPES, exportHeader, exportLine } from '../kernel/export.ts';
import { exportColumns, requestView, type Audience } from './schema.ts';
import type { RouteTable } from '../http/routes.ts';
import { OUTCOME_NAMES } from './outcomes.ts';

// The logs API: request logs for operators (every account) and customers (their own, without
// upstream details), as JSON pages or as a streamed CSV / NDJSON export of any size, in the one
// export format (kernel/export.ts). Rows are shown through the one schema (schema.ts).

const outcome = z.enum(OUTCOME_NAMES);
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

/**
 * Exports stream every matching row, oldest first, with constant memory (a cursor on both
 * engines); with `limit`, the newest `limit` rows, still oldest first.
 */
function exportSql(w: { sql: string }, limit: number | undefined): string {
  return limit ? `SELECT * FROM (SELECT * FROM request_log ${w.sql} ORDER BY id DESC LIMIT ${limit}) newest ORDER BY id ASC` : `SELECT * FROM request_log ${w.sql} ORDER BY id ASC`;
}

export function registerLogRoutes(t: RouteTable, rt: Runtime): void {
  const handler = (audience: Audience, scope: (a: Actor, f: Filter) => Filter) => async (c: Parameters<Parameters<RouteTable['add']>[1]>[0]) => {
    const f = scope(c.actor, parseInput(LogFilter, c.query, 'query'));
    const w = where(f);
    const format = f.format ?? 'json';
    if (format === 'json') {
      const limit = f.limit ?? 100;
      const rows = await rt.db.all(`SELECT * FROM request_log ${w.sql} ORDER BY id DESC LIMIT ?`, [...w.params, limit]);
      return { data: rows.map((r) => requestView(r, audience)), next_before: rows.length === limit ? str(rows.at(-1)!.id) : null };
    }
    const columns = exportColumns(audience);
    const res = c.reply.raw;
    c.reply.hijack();
    res.writeHead(200, { 'content-type': EXPORT_CONTENT_TYPES[format], 'content-disposition': `attachment; filename="surety-logs.${format}"` });
    res.write(exportHeader(format, columns));
    try {
      for await (const r of rt.db.stream(exportSql(w, f.limit), w.params)) {
        if (!res.write(exportLine(format, columns, requestView(r, audience)))) await new Promise((ok) => res.once('drain', ok));
        if (res.destroyed) break;
      }
    } catch (err) {
      rt.log.error({ err }, 'log export failed');
    }
    res.end();
    return undefined;
  };
  t.add({ method: 'GET', url: '/admin/v1/logs', auth: 'operator', tag: 'logs', summary: 'Request logs (filters; format=json|csv|ndjson streams every matching row)', query: LogFilter }, handler('operator', (_a, f) => f));
  t.add({ method: 'GET', url: '/admin/v1/logs/:id', auth: 'operator', tag: 'logs', summary: 'One request log row' }, async (c) => {
    const r = await rt.db.get('SELECT * FROM request_log WHERE id = ?', [c.params.id!]);
    if (!r) throw new AppError('NOT_FOUND', `request ${c.params.id} not found`, { resource: 'request' });
    return requestView(r, 'operator');
  });
  t.add(
    { method: 'GET', url: '/account/v1/logs', auth: 'customer', tag: 'account', summary: 'Your request logs (filters; format=json|csv|ndjson); upstream details are for operators', query: LogFilter },
    handler('customer', (a, f) => {
      if (a.type !== 'customer') throw new AppError('FORBIDDEN');
      requireRole(a, a.accountId, 'viewer');
      if (f.account_id !== undefined && f.account_id !== a.accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
      if (f.channel_id !== undefined) throw new AppError('VALIDATION', 'channel_id: channels are not shown to customers', { field: 'channel_id' });
      return { ...f, account_id: a.accountId };
    }),
  );
}
