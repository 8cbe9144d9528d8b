import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { withActor, type Actor, type Runtime, type ServiceContext } from '../kernel/context.ts';
import { EXPORT_FORMATS, exportFileName, exportManifest, sendExport } from '../kernel/export.ts';
import { isoTime, parseInput } from '../kernel/validation.ts';
import { SortQuery } from '../kernel/sorting.ts';
import { Paging, SortedPaging, type RouteTable } from '../http/routes.ts';
import { requestView, type Audience } from '../requests/schema.ts';
import { formatUsd } from '../kernel/money.ts';
import { rejectFindings, verifyFindings, DecisionInput } from './decisions.ts';
import { DisputeInput, disputeView, fileDispute, getDispute, pageDisputes } from './disputes.ts';
import { FINDINGS_DATASET, findingsExport } from './export.ts';
import { FindingFilter, findingView, getFinding, pageFindings, type Finding } from './findings.ts';
import { getSettlement, listSettlements, settleModeration, settlementItems, settlementView } from './moderation.ts';
import { EnrolmentInput, enrolmentView, setEnrolment } from './programme.ts';
import { checkpoint, scanWindow } from './scanner.ts';
import { detectionSettings, programmeSettings, saveDetectionSettings, saveProgrammeSettings } from './settings.ts';
import { RULES } from './rules/index.ts';

// The routes of detection: the operator's queue, decisions, export, settings, the programme and
// moderation settlements under /admin/v1; a customer's findings and disputes under /account/v1.

const ListQuery = FindingFilter.extend({ limit: Paging.shape.limit, before: z.string().optional(), ...SortQuery.shape });
const ExportQuery = FindingFilter.extend({ format: z.enum(EXPORT_FORMATS).optional() });
const FINDINGS_FILE = 'surety-findings';

/** A finding with its evidence and the request rows it names, as the audience may see them. */
async function detail(rt: Runtime, f: Finding, audience: Audience): Promise<Record<string, unknown>> {
  const ids = f.request_ids;
  const rows = ids.length ? await rt.db.all(`SELECT * FROM request_log WHERE id IN (${ids.map(() => '?').join(', ')})`, ids) : [];
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  return {
    ...findingView(f, audience),
    evidence: f.evidence,
    stakes: Object.fromEntries(Object.entries(f.stakes).map(([k, v]) => [k, formatUsd(v)])),
    requests: ids.map((id) => byId.get(id)).filter((r) => r !== undefined).map((r) => requestView(r, audience)),
  };
}

export function registerDetectionRoutes(t: RouteTable, rt: Runtime): void {
  registerQueue(t, rt);
  registerProgramme(t, rt);
  registerCustomer(t, rt);
}

function registerQueue(t: RouteTable, rt: Runtime): void {
  const tag = 'detection';
  const op = 'operator' as const;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  t.add({ method: 'GET', url: '/admin/v1/findings', auth: op, tag, summary: 'Findings, newest first (?rule=&account_id=&model=&status=&from=&to=&min_amount=&before=&limit=)', query: ListQuery }, async (c) => {
    const q = parseInput(ListQuery, c.query, 'query');
    const limit = q.limit ?? 100;
    const { sort, cursor, ...f } = q;
    const p = await pageFindings(rt.db, f, { limit, sort, cursor });
    return { data: p.rows.map((x) => findingView(x)), next_before: p.rows.length === limit ? p.rows.at(-1)!.id : null, next_cursor: p.next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/findings/export', auth: op, tag, summary: 'Export findings (same filters; format=csv|ndjson) in the uniform export format', query: ExportQuery }, async (c) => {
    const q = parseInput(ExportQuery, c.query, 'query');
    const { format: fmt, ...f } = q;
    const format = fmt ?? 'csv';
    const x = findingsExport(rt.db, f);
    c.reply.hijack();
    try {
      await sendExport(c.reply.raw, FINDINGS_DATASET, format, exportFileName(FINDINGS_FILE, format), x.rows, x.filter);
    } catch (err) {
      rt.log.error({ err }, 'findings export failed');
    }
    return undefined;
  });
  t.add({ method: 'GET', url: '/admin/v1/findings/export/manifest', auth: op, tag, summary: 'The manifest of a findings export (same filters; without format, both files)', query: ExportQuery }, async (c) => {
    const { format, ...f } = parseInput(ExportQuery, c.query, 'query');
    const x = findingsExport(rt.db, f);
    return exportManifest(FINDINGS_DATASET, x.rows, (format ? [format] : EXPORT_FORMATS).map((fm) => ({ name: exportFileName(FINDINGS_FILE, fm), format: fm })), x.filter);
  });
  t.add({ method: 'GET', url: '/admin/v1/findings/:id', auth: op, tag, summary: 'One finding with its evidence and the request rows it names' }, async (c) => {
    const f = await getFinding(rt.db, c.params.id!);
    if (!f) throw new AppError('NOT_FOUND', `finding ${c.params.id} not found`, { resource: 'finding' });
    return detail(rt, f, 'operator');
  });
  t.add({ method: 'POST', url: '/admin/v1/findings/verify', auth: op, tag, summary: 'Verify findings (by ids or filter) and compensate them, once each', body: DecisionInput }, async (c) => verifyFindings(ctx(c), c.body));
  t.add({ method: 'POST', url: '/admin/v1/findings/reject', auth: op, tag, summary: 'Reject findings (by ids or filter) with a reason the customer sees', body: DecisionInput }, async (c) => rejectFindings(ctx(c), c.body));
  const ScanInput = z.object({ from: isoTime, to: isoTime }).strict();
  t.add({ method: 'POST', url: '/admin/v1/findings/scan', auth: op, tag, summary: 'Scan a window of the request log now ({from, to}); findings already made are kept once', body: ScanInput }, async (c) => {
    const w = parseInput(ScanInput, c.body);
    if (w.to <= w.from) throw new AppError('VALIDATION', 'to: must be after from', { field: 'to' });
    const s = await scanWindow(rt, w.from, w.to);
    return { ...s, from: new Date(s.from).toISOString(), to: new Date(s.to).toISOString(), ms: Math.round(s.ms) };
  });
  t.add({ method: 'GET', url: '/admin/v1/detection', auth: op, tag, summary: 'Detection settings, the rules and the continuous scan\'s checkpoint' }, async () => detectionStatus(rt));
  t.add({ method: 'PUT', url: '/admin/v1/detection', auth: op, tag, summary: 'Replace the detection settings (rules on/off, thresholds per model, scan lag, dispute window)', body: z.record(z.string(), z.unknown()) }, async (c) => {
    await saveDetectionSettings(ctx(c), c.body);
    return detectionStatus(rt);
  });
  const DisputeQuery = SortedPaging.extend({ account_id: z.string().optional() });
  t.add({ method: 'GET', url: '/admin/v1/disputes', auth: op, tag, summary: 'Customer disputes, newest first (?account_id=&sort=&cursor=&limit=)', query: DisputeQuery }, async (c) => {
    const q = parseInput(DisputeQuery, c.query, 'query');
    const { rows, next_cursor } = await pageDisputes(ctx(c), q.account_id ?? null, { limit: q.limit ?? 100, before: q.before, sort: q.sort, cursor: q.cursor });
    return { data: rows.map((d) => ({ account_id: d.account_id, ...disputeView(d) })), next_before: rows.length === (q.limit ?? 100) ? rows.at(-1)!.id : null, next_cursor };
  });
}

async function detectionStatus(rt: Runtime): Promise<Record<string, unknown>> {
  const s = await detectionSettings(rt);
  const cp = await checkpoint(rt.db);
  return {
    settings: s,
    rules: RULES.map((r) => ({ name: r.name, description: r.description, enabled: !s.disabled_rules.includes(r.name) })),
    scanner: cp ? { position: new Date(cp.position).toISOString(), rows_scanned: cp.rows_scanned, updated_at: new Date(cp.updated_at).toISOString() } : null,
  };
}

function registerProgramme(t: RouteTable, rt: Runtime): void {
  const tag = 'detection';
  const op = 'operator' as const;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  t.add({ method: 'GET', url: '/admin/v1/programme', auth: op, tag, summary: 'Compensation programme settings (threshold, models, time zone, look-back, auto-verified rules, moderation policy)' }, async () => programmeSettings(rt));
  t.add({ method: 'PUT', url: '/admin/v1/programme', auth: op, tag, summary: 'Replace the compensation programme settings', body: z.record(z.string(), z.unknown()) }, async (c) => saveProgrammeSettings(ctx(c), c.body));
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/programme', auth: op, tag, summary: "An account's enrolment and its eligibility this month" }, async (c) => {
    if (!(await rt.db.get('SELECT id FROM accounts WHERE id = ?', [c.params.id!]))) throw new AppError('NOT_FOUND', `account ${c.params.id} not found`, { resource: 'account' });
    return enrolmentView(rt, c.params.id!);
  });
  t.add({ method: 'PUT', url: '/admin/v1/accounts/:id/programme', auth: op, tag, summary: 'Enrol an account in the compensation programme ({"enrolled": true}) or take it out', body: EnrolmentInput }, async (c) =>
    setEnrolment(ctx(c), c.params.id!, c.body));
  const MonthInput = z.object({ month: z.string() }).strict();
  t.add({ method: 'POST', url: '/admin/v1/moderation/settlements', auth: op, tag, summary: 'Settle moderation reimbursement for a month that has ended ({"month": "2026-11"}); idempotent per account, model and month', body: MonthInput }, async (c) => {
    const run = await settleModeration(ctx(c), parseInput(MonthInput, c.body).month);
    return moderationView(run);
  });
  const SettlementQuery = Paging.extend({ account_id: z.string().optional(), month: z.string().optional() });
  t.add({ method: 'GET', url: '/admin/v1/moderation/settlements', auth: op, tag, summary: 'Moderation settlements (?account_id=&month=)', query: SettlementQuery }, async (c) => {
    const q = parseInput(SettlementQuery, c.query, 'query');
    return { data: (await listSettlements(rt.db, q, q.limit ?? 100)).map((s) => settlementView(s)) };
  });
  t.add({ method: 'GET', url: '/admin/v1/moderation/settlements/:id', auth: op, tag, summary: 'One moderation settlement with its items (one per refused request)' }, async (c) => {
    const s = await getSettlement(rt.db, c.params.id!);
    if (!s) throw new AppError('NOT_FOUND', `settlement ${c.params.id} not found`, { resource: 'settlement' });
    return settlementView(s, await settlementItems(rt.db, s.id));
  });
}

export function moderationView(run: Awaited<ReturnType<typeof settleModeration>>): Record<string, unknown> {
  return {
    month: run.month,
    settlements: run.settlements.map((s) => ({ ...settlementView(s.settlement), replayed: s.replayed })),
    below_threshold: run.below_threshold.map((b) => ({ ...b, spend: formatUsd(b.spend) })),
  };
}

function registerCustomer(t: RouteTable, rt: Runtime): void {
  const tag = 'account';
  const cu = 'customer' as const;
  const ctx = (c: { actor: Actor }): ServiceContext => withActor(rt, c.actor);
  const acct = (c: { actor: Actor }): string => {
    if (c.actor.type !== 'customer') throw new AppError('FORBIDDEN');
    return c.actor.accountId;
  };
  const CustomerQuery = ListQuery.omit({ account_id: true });
  t.add({ method: 'GET', url: '/account/v1/findings', auth: cu, tag, summary: 'Abnormal charges found on your account, newest first (?rule=&status=&model=&from=&to=&before=&limit=)', query: CustomerQuery }, async (c) => {
    const q = parseInput(CustomerQuery, c.query, 'query');
    const limit = q.limit ?? 100;
    const { sort, cursor, ...f } = q;
    const p = await pageFindings(rt.db, { ...f, account_id: acct(c) }, { limit, sort, cursor });
    return { data: p.rows.map((x) => findingView(x, 'customer')), next_before: p.rows.length === limit ? p.rows.at(-1)!.id : null, next_cursor: p.next_cursor };
  });
  t.add({ method: 'GET', url: '/account/v1/findings/:id', auth: cu, tag, summary: 'One finding with its evidence and compensation' }, async (c) => {
    const f = await getFinding(rt.db, c.params.id!);
    if (!f || f.account_id !== acct(c)) throw new AppError('NOT_FOUND', `finding ${c.params.id} not found`, { resource: 'finding' });
    return detail(rt, f, 'customer');
  });
  t.add({ method: 'POST', url: '/account/v1/disputes', auth: cu, tag, summary: 'Dispute charges on your own requests ({request_ids, reason}); the rules run on them at once', body: DisputeInput, status: 201 }, async (c) =>
    disputeView(await fileDispute(ctx(c), acct(c), c.body)));
  t.add({ method: 'GET', url: '/account/v1/disputes', auth: cu, tag, summary: 'Your disputes, newest first, with their findings and answers (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const q = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageDisputes(ctx(c), acct(c), { limit: q.limit ?? 100, before: q.before, sort: q.sort, cursor: q.cursor });
    return { data: rows.map(disputeView), next_before: rows.length === (q.limit ?? 100) ? rows.at(-1)!.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: '/account/v1/disputes/:id', auth: cu, tag, summary: 'One dispute: its state, findings and the operator\'s answer' }, async (c) => disputeView(await getDispute(ctx(c), acct(c), c.params.id!)));
}
