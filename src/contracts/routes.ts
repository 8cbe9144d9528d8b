import { z } from 'zod';
import { sortedPage, type SortSpec } from '../kernel/sorting.ts';
import { AppError } from '../kernel/errors.ts';
import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import { EXPORT_FORMATS, exportFileName, exportManifest, sendExport } from '../kernel/export.ts';
import { parseInput } from '../kernel/validation.ts';
import { SortedPaging, type Call, type RouteTable } from '../http/routes.ts';
import { AmendmentInput, CreateContractInput, amendContract, contractView, createContract, getContract, listContracts, pageContracts } from './contracts.ts';
import { CorrectionInput, closePeriod, correctPeriod } from './close.ts';
import { ClaimInput, fileClaim, listClaims } from './claims.ts';
import { ReportQuery, closedView, contractReport, toClosed, type ReportResult } from './service.ts';
import { SLA_INTERVALS, asAsync, intervalRows } from './intervals.ts';
import { reportHtml } from './html.ts';
import { periodOf } from './periods.ts';

// The SLA routes: operators manage contracts, read reports (JSON, the intervals as CSV/NDJSON in
// the uniform export with its manifest, a printable HTML page), close periods and correct them;
// customers read their terms, month-to-date figures and past reports, and file claims.

const CloseInput = z.object({ period: z.string() }).strict();

/** Answers a report in the asked format: JSON, the intervals export, or the printable page. */
async function answerReport(c: Call, r: ReportResult, format: string | undefined, log: Runtime['log']): Promise<unknown> {
  if (format === undefined || format === 'json') return r.view;
  if (format === 'html') {
    c.reply.type('text/html; charset=utf-8');
    return reportHtml(r.view);
  }
  const f = format as 'csv' | 'ndjson';
  c.reply.hijack();
  const base = `sla-${r.contract.id}-${String(r.view.period ?? 'window')}`;
  try {
    await sendExport(c.reply.raw, SLA_INTERVALS, f, exportFileName(base, f), asAsync(intervalRows(r.contract.id, r.contract.account_id, r.series)), exportFilter(r));
  } catch (err) {
    // Headers are gone: the client sees a cut file (its manifest will not match); we log why.
    log.error({ err }, 'SLA intervals export failed');
  }
  return undefined;
}

const exportFilter = (r: ReportResult) => ({ contract_id: r.contract.id, period: r.view.period ?? null, window: r.view.window, status: r.view.status });

async function manifestOf(r: ReportResult, format: string | undefined) {
  if (format === 'json' || format === 'html') throw new AppError('VALIDATION', 'format: a manifest describes a csv or ndjson export', { field: 'format' });
  const formats = format ? [format as 'csv' | 'ndjson'] : EXPORT_FORMATS;
  const base = `sla-${r.contract.id}-${String(r.view.period ?? 'window')}`;
  return exportManifest(SLA_INTERVALS, asAsync(intervalRows(r.contract.id, r.contract.account_id, r.series)), formats.map((f) => ({ name: exportFileName(base, f), format: f })), exportFilter(r));
}

export function registerContractRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'sla';
  const op = 'operator' as const;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const List = SortedPaging.extend({ account_id: z.string().optional() });

  t.add({ method: 'POST', url: '/admin/v1/contracts', auth: op, tag, summary: 'Sign an SLA contract for an account (terms: see README "SLA contracts")', body: CreateContractInput, status: 201 }, async (c) =>
    contractView(await createContract(ctx(c), c.body)));
  t.add({ method: 'GET', url: '/admin/v1/contracts', auth: op, tag, summary: 'SLA contracts (?account_id=&sort=&cursor=&limit=; legacy: ?after=<id>)', query: List }, async (c) => {
    const p = parseInput(List, c.query, 'query');
    const { rows, next_cursor } = await pageContracts(ctx(c), { accountId: p.account_id, limit: p.limit ?? 100, after: p.after, sort: p.sort, cursor: p.cursor });
    return { data: rows.map((x) => contractView(x)), next_after: rows.length === (p.limit ?? 100) ? rows.at(-1)?.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/contracts/:id', auth: op, tag, summary: 'An SLA contract with every version of its terms' }, async (c) => contractView(await getContract(ctx(c), c.params.id!)));
  t.add({ method: 'POST', url: '/admin/v1/contracts/:id/amendments', auth: op, tag, summary: 'Amend a contract: a new version of the given terms from effective_from', body: AmendmentInput, status: 201 }, async (c) =>
    contractView(await amendContract(ctx(c), c.params.id!, c.body)));
  t.add({ method: 'GET', url: '/admin/v1/contracts/:id/report', auth: op, tag, summary: 'SLA report (?period=YYYY-MM or ?from=&to=; format=json|csv|ndjson|html; series=1 adds the intervals to JSON)', query: ReportQuery }, async (c) => {
    const r = await contractReport(ctx(c), c.params.id!, c.query);
    return answerReport(c, r, c.query.format, rt.log);
  });
  t.add({ method: 'GET', url: '/admin/v1/contracts/:id/report/manifest', auth: op, tag, summary: 'The manifest of a report\'s intervals export (same query; without format, both files)', query: ReportQuery }, async (c) =>
    manifestOf(await contractReport(ctx(c), c.params.id!, c.query), c.query.format));
  t.add({ method: 'POST', url: '/admin/v1/contracts/:id/close', auth: op, tag, summary: 'Close a period: immutable snapshot, capped credit posted once, customer notified; again = no-op', body: CloseInput }, async (c) => {
    const b = parseInput(CloseInput, c.body);
    const r = await closePeriod(ctx(c), c.params.id!, b.period);
    return { ...closedView(r.closed), created: r.created, credit_id: r.credit?.id ?? null, note: r.note };
  });
  t.add({ method: 'GET', url: '/admin/v1/contracts/:id/periods', auth: op, tag, summary: 'Closed periods of a contract, newest first (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    await getContract(ctx(c), c.params.id!);
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await sortedPage(rt.db, { from: 'sla_periods', where: ['contract_id = ?'], params: [c.params.id!], spec: PERIOD_SORT, sort: p.sort, cursor: p.cursor, limit: p.limit ?? 1000 });
    return { data: rows.map((r) => closedView(toClosed(r))), next_cursor };
  });
  t.add({ method: 'POST', url: '/admin/v1/contracts/:id/periods/:period/corrections', auth: op, tag, summary: 'Correct a closed period: a correcting credit (+) or entry (−) with its reason', body: CorrectionInput, idempotent: true, status: 201 }, async (c) => {
    const r = await correctPeriod(ctx(c), c.params.id!, c.params.period!, c.body, c.idempotencyKey);
    if (r.replayed) c.reply.header('idempotent-replayed', 'true');
    return r.correction;
  });
  t.add({ method: 'GET', url: '/admin/v1/contracts/:id/claims', auth: op, tag, summary: 'Claims filed under a contract' }, async (c) => {
    await getContract(ctx(c), c.params.id!);
    return { data: await listClaims(rt.db, c.params.id!) };
  });
  registerCustomerRoutes(t, rt);
}

/** How a contract's closed periods sort (periods are unique within a contract). */
export const PERIOD_SORT: SortSpec = {
  columns: { period: 'period', credit: 'credit', credit_before_cap: 'credit_before_cap', closed_at: 'closed_at' },
  text: ['period'],
  default: '-period',
  id: 'period',
};

function registerCustomerRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'account';
  const cu = 'customer' as const;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const acct = (c: { actor: Actor }) => {
    if (c.actor.type !== 'customer') throw new AppError('FORBIDDEN');
    return c.actor.accountId;
  };
  t.add({ method: 'GET', url: '/account/v1/sla', auth: cu, tag, summary: 'Your SLA contracts: terms, month-to-date figures, past reports' }, async (c) => {
    const contracts = await listContracts(ctx(c), { accountId: acct(c), limit: 100 });
    const data = [];
    for (const k of contracts) {
      const period = periodOf(rt.now(), k.versions.at(-1)!.terms.time_zone);
      const live = await contractReport(ctx(c), k.id, { period });
      const past = await rt.db.all('SELECT * FROM sla_periods WHERE contract_id = ? ORDER BY period DESC', [k.id]);
      data.push({ contract: contractView(k, 'customer'), month_to_date: live.view, past: past.map((r) => closedView(toClosed(r))), claims: await listClaims(rt.db, k.id) });
    }
    return { data };
  });
  t.add({ method: 'GET', url: '/account/v1/sla/:id/report', auth: cu, tag, summary: 'A report of your contract (?period= or ?from=&to=; format=json|csv|ndjson|html)', query: ReportQuery }, async (c) =>
    answerReport(c, await contractReport(ctx(c), c.params.id!, c.query), c.query.format, rt.log));
  t.add({ method: 'GET', url: '/account/v1/sla/:id/report/manifest', auth: cu, tag, summary: 'The manifest of your report\'s intervals export', query: ReportQuery }, async (c) =>
    manifestOf(await contractReport(ctx(c), c.params.id!, c.query), c.query.format));
  t.add({ method: 'POST', url: '/account/v1/sla/claims', auth: cu, tag, summary: 'File an SLA claim for a period (before its deadline), with optional evidence', body: ClaimInput, status: 201 }, async (c) => {
    const r = await fileClaim(ctx(c), c.body);
    if (!r.created) c.reply.code(200);
    return r.claim;
  });
}
