import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import type { Actor, Runtime } from '../kernel/context.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { iso, isoTime, parseInput } from '../kernel/validation.ts';
import { str, type Db, type SqlValue } from '../storage/port.ts';
import { SortQuery, sortedPage, type SortSpec } from '../kernel/sorting.ts';
import { EXPORT_FORMATS, exportFileName, exportManifest, sendExport, type Dataset } from '../kernel/export.ts';
import { REQUEST_LOG_DATASETS, requestView, type Audience } from './schema.ts';
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
    ...SortQuery.shape,
  })
  .strict();

/** How the request log sorts (JSON pages; exports keep their fixed oldest-first order). */
export const LOG_SORT: SortSpec = {
  columns: { id: 'id', started_at: 'started_at', duration_ms: 'duration_ms', amount: 'amount', status: 'status', model: "COALESCE(model, '')", outcome: 'outcome', endpoint: 'endpoint' },
  text: ['id', 'model', 'outcome', 'endpoint'],
  default: '-id',
};
type Filter = z.infer<typeof LogFilter>;

function where(f: Filter): { sql: string; params: SqlValue[]; conds: string[] } {
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
  return { sql: w.length ? `WHERE ${w.join(' AND ')}` : '', params, conds: w };
}

/**
 * Exports stream every matching row, oldest first, with constant memory (a cursor on both
 * engines); with `limit`, the newest `limit` rows, still oldest first.
 */
function exportSql(w: { sql: string }, limit: number | undefined): string {
  return limit ? `SELECT * FROM (SELECT * FROM request_log ${w.sql} ORDER BY id DESC LIMIT ${limit}) newest ORDER BY id ASC` : `SELECT * FROM request_log ${w.sql} ORDER BY id ASC`;
}

/** The filter as the manifest records it: what was asked, times as ISO strings. */
function describeFilter(f: Filter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined && k !== 'format') out[k] = k === 'from' || k === 'to' ? iso(v as number) : v;
  return out;
}

/** A log export in the uniform format: its dataset, its rows (a cursor) and the filter behind them. */
export function logExport(db: Db, raw: Filter, audience: Audience): { dataset: Dataset; rows: AsyncIterable<Record<string, unknown>>; filter: Record<string, unknown> } {
  const w = where(raw);
  async function* rows() {
    for await (const r of db.stream(exportSql(w, raw.limit), w.params)) yield requestView(r, audience);
  }
  return { dataset: REQUEST_LOG_DATASETS[audience], rows: rows(), filter: describeFilter(raw) };
}

const LOG_FILE = 'surety-logs';

type Scope = (a: Actor, f: Filter) => Filter;
type Handler = Parameters<RouteTable['add']>[1];

/** A customer sees only their own account's rows, never a channel. */
const customerScope: Scope = (a, f) => {
  if (a.type !== 'customer') throw new AppError('FORBIDDEN');
  requireRole(a, a.accountId, 'viewer');
  if (f.account_id !== undefined && f.account_id !== a.accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
  if (f.channel_id !== undefined) throw new AppError('VALIDATION', 'channel_id: channels are not shown to customers', { field: 'channel_id' });
  return { ...f, account_id: a.accountId };
};

export function registerLogRoutes(t: RouteTable, rt: Runtime): void {
  const handler = (audience: Audience, scope: Scope): Handler => async (c) => {
    const f = scope(c.actor, parseInput(LogFilter, c.query, 'query'));
    const format = f.format ?? 'json';
    if (format === 'json') {
      const w = where(f);
      const limit = f.limit ?? 100;
      const { rows, next_cursor } = await sortedPage(rt.db, { from: 'request_log', where: w.conds, params: w.params, spec: LOG_SORT, sort: f.sort, cursor: f.cursor, limit });
      return { data: rows.map((r) => requestView(r, audience)), next_before: rows.length === limit ? str(rows.at(-1)!.id) : null, next_cursor };
    }
    const x = logExport(rt.db, f, audience);
    c.reply.hijack();
    try {
      await sendExport(c.reply.raw, x.dataset, format, exportFileName(LOG_FILE, format), x.rows, x.filter);
    } catch (err) {
      rt.log.error({ err }, 'log export failed');
    }
    return undefined;
  };
  // The manifest of an export, recomputed from the same filter: rows, sums per account, SHA-256.
  const manifest = (audience: Audience, scope: Scope): Handler => async (c) => {
    const f = scope(c.actor, parseInput(LogFilter, c.query, 'query'));
    if (f.format === 'json') throw new AppError('VALIDATION', 'format: a manifest describes a csv or ndjson export', { field: 'format' });
    const x = logExport(rt.db, f, audience);
    const formats = f.format ? [f.format] : EXPORT_FORMATS;
    return exportManifest(x.dataset, x.rows, formats.map((format) => ({ name: exportFileName(LOG_FILE, format), format })), x.filter);
  };
  const MANIFEST = ' (same filters as the export; without format, both files)';
  t.add({ method: 'GET', url: '/admin/v1/logs', auth: 'operator', tag: 'logs', summary: 'Request logs (filters; format=json|csv|ndjson streams every matching row)', query: LogFilter }, handler('operator', (_a, f) => f));
  t.add({ method: 'GET', url: '/admin/v1/logs/manifest', auth: 'operator', tag: 'logs', summary: `The manifest of a log export${MANIFEST}`, query: LogFilter }, manifest('operator', (_a, f) => f));
  t.add({ method: 'GET', url: '/admin/v1/logs/:id', auth: 'operator', tag: 'logs', summary: 'One request log row' }, async (c) => {
    const r = await rt.db.get('SELECT * FROM request_log WHERE id = ?', [c.params.id!]);
    if (!r) throw new AppError('NOT_FOUND', `request ${c.params.id} not found`, { resource: 'request' });
    return requestView(r, 'operator');
  });
  t.add(
    { method: 'GET', url: '/account/v1/logs', auth: 'customer', tag: 'account', summary: 'Your request logs (filters; format=json|csv|ndjson); upstream details are for operators', query: LogFilter },
    handler('customer', customerScope),
  );
  t.add({ method: 'GET', url: '/account/v1/logs/manifest', auth: 'customer', tag: 'account', summary: `The manifest of your log export${MANIFEST}`, query: LogFilter }, manifest('customer', customerScope));
}
