import { resolve } from 'node:path';
import { AppError } from '../kernel/errors.ts';
import { isoTime, parseInput } from '../kernel/validation.ts';
import { rejectFindings, verifyFindings, type DecisionResult } from '../detection/decisions.ts';
import { FINDINGS_DATASET, findingsExport } from '../detection/export.ts';
import { FindingFilter, findingView, getFinding, listFindings } from '../detection/findings.ts';
import { settleModeration, settlementView } from '../detection/moderation.ts';
import { scanWindow } from '../detection/scanner.ts';
import { formatUsd } from '../kernel/money.ts';
import { defined, limit, LIMIT_OPTION, list, required, str, withServices, type Command, type Io, type OptionSpec, type Values } from './framework.ts';
import { OUT_OPTIONS, formatsOf, materialise, printManifest } from './export.ts';

// `surety findings …` (the operator's queue of abnormal charges) and `surety reimburse moderation`.
// The same services as /admin/v1/findings and /admin/v1/moderation/settlements.

const FILTER_OPTIONS: Record<string, OptionSpec> = {
  rule: { type: 'string', value: 'RULE', help: 'only this rule (billed_on_failure, billed_after_timeout, …, customer_dispute)' },
  account: { type: 'string', value: 'ID', help: 'only this account' },
  model: { type: 'string', value: 'MODEL', help: 'only this model' },
  status: { type: 'string', value: 'S', help: 'open, verified, compensated or rejected' },
  from: { type: 'string', value: 'ISO', help: 'charged at or after this time' },
  to: { type: 'string', value: 'ISO', help: 'charged before this time' },
  'min-amount': { type: 'string', value: 'USD', help: 'at least this much at stake' },
};

function rawFilter(v: Values): Record<string, string> {
  return defined({ rule: str(v, 'rule'), account_id: str(v, 'account'), model: str(v, 'model'), status: str(v, 'status'), from: str(v, 'from'), to: str(v, 'to'), min_amount: str(v, 'min-amount') }) as Record<string, string>;
}

function filterOf(v: Values): FindingFilter {
  return parseInput(FindingFilter, rawFilter(v), 'options');
}

const COLUMNS: Array<[string, string]> = [
  ['id', 'ID'], ['rule', 'RULE'], ['status', 'STATUS'], ['account_id', 'ACCOUNT'], ['model', 'MODEL'], ['amount', 'AT STAKE'], ['compensated', 'PAID'], ['occurred_at', 'CHARGED AT'],
];

/** A decision by --ids or by the filter options (one or the other). */
function selection(v: Values, command: string): Record<string, unknown> {
  const ids = list(v, 'ids');
  const filter = rawFilter(v);
  const hasFilter = Object.keys(filter).length > 0;
  if ((ids ? 1 : 0) + (hasFilter ? 1 : 0) !== 1) throw new AppError('VALIDATION', `${command}: give either --ids or filter options (--rule, --account, …)`, { field: 'ids' });
  return ids ? { ids } : { filter };
}

function printDecision(io: Io, verb: string, r: DecisionResult): void {
  io.line(`${verb}: ${r.done.length}${r.more ? ' (more match: run again)' : ''}`);
  for (const id of r.done) io.line(`  ${id}`);
  if (r.skipped.length) io.line(`skipped: ${r.skipped.length}`);
  for (const s of r.skipped) io.line(`  ${s.id}  ${s.why}`);
}

const IDS: OptionSpec = { type: 'string', value: 'ID,…', help: 'these findings (or use the filter options)' };

export const commands: Command[] = [
  {
    name: 'findings list',
    summary: 'Abnormal-billing findings, newest first (the operator\'s queue)',
    options: { ...FILTER_OPTIONS, limit: LIMIT_OPTION },
    details: 'Example: surety findings list --status open --rule billed_after_timeout --min-amount 1.00',
    async run({ values: v, io }) {
      const f = filterOf(v);
      const n = limit(v, 'findings list');
      const data = (await withServices((_ctx, rt) => listFindings(rt.db, f, n))).map((x) => findingView(x));
      io.result({ data }, () => io.table(data, COLUMNS));
    },
  },
  {
    name: 'findings show',
    summary: 'One finding: its reasoning, evidence, the amount at stake and its compensation',
    args: ['finding'],
    async run({ positionals: [id], io }) {
      const f = await withServices((_ctx, rt) => getFinding(rt.db, id!));
      if (!f) throw new AppError('NOT_FOUND', `finding ${id} not found`, { resource: 'finding' });
      const view = { ...findingView(f), evidence: f.evidence, stakes: Object.fromEntries(Object.entries(f.stakes).map(([k, x]) => [k, formatUsd(x)])) };
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'findings verify',
    summary: 'Verify findings and compensate them (a credit each, once), by --ids or by filter',
    options: { ids: IDS, ...FILTER_OPTIONS, reason: { type: 'string', value: 'TEXT', help: 'a note kept with the decision' } },
    details: 'Example: surety findings verify --rule double_charge --status open',
    async run({ values: v, io }) {
      const r = await withServices((ctx) => verifyFindings(ctx, { ...selection(v, 'findings verify'), ...defined({ reason: str(v, 'reason') }) }));
      io.result(r, () => printDecision(io, 'verified and compensated', r));
    },
  },
  {
    name: 'findings reject',
    summary: 'Reject findings with a reason the customer sees, by --ids or by filter',
    options: { ids: IDS, ...FILTER_OPTIONS, reason: { type: 'string', value: 'TEXT', help: 'why (required; the customer sees it)' } },
    async run({ values: v, io }) {
      const reason = required(v, 'reason', 'findings reject');
      const r = await withServices((ctx) => rejectFindings(ctx, { ...selection(v, 'findings reject'), reason }));
      io.result(r, () => printDecision(io, 'rejected', r));
    },
  },
  {
    name: 'findings export',
    summary: 'Export findings into a directory: CSV and/or NDJSON and their manifest.json (uniform export)',
    options: { ...OUT_OPTIONS, ...FILTER_OPTIONS },
    async run({ values: v, io }) {
      const dir = resolve(required(v, 'out', 'findings export'));
      const formats = formatsOf(v);
      const f = filterOf(v);
      const m = await withServices(async (_ctx, rt) => {
        const x = findingsExport(rt.db, f);
        return materialise(dir, 'surety-findings', FINDINGS_DATASET, formats, x.rows, x.filter);
      });
      io.result(m, () => printManifest(io, dir, m));
    },
  },
  {
    name: 'findings scan',
    summary: 'Run the rules over the requests that ended in a window now (progress on stderr)',
    options: { from: { type: 'string', value: 'ISO', help: 'ended at or after this time (required)' }, to: { type: 'string', value: 'ISO', help: 'ended before this time (default now)' } },
    details: 'Findings already made are kept once: scanning a window again, or while the server scans, finds nothing twice.',
    async run({ values: v, io }) {
      const from = parseInput(isoTime, required(v, 'from', 'findings scan'), 'from');
      const to = v.to === undefined ? Date.now() : parseInput(isoTime, str(v, 'to'), 'to');
      if (to <= from) throw new AppError('VALIDATION', '--to: must be after --from', { field: 'to' });
      const progress = (s: { rows: number; judged: number; findings: number }) => process.stderr.write(`\rscanned ${s.rows.toLocaleString('en')} rows, ${s.judged.toLocaleString('en')} judged, ${s.findings} findings`);
      const s = await withServices((_ctx, rt) => scanWindow(rt, from, to, { onProgress: progress }));
      process.stderr.write('\n');
      const out = { ...s, from: new Date(s.from).toISOString(), to: new Date(s.to).toISOString(), ms: Math.round(s.ms), rows_per_s: s.ms > 0 ? Math.round(s.rows / (s.ms / 1000)) : null };
      io.result(out, () => io.line(`Scanned ${s.rows.toLocaleString('en')} rows in ${(s.ms / 1000).toFixed(2)} s (${out.rows_per_s?.toLocaleString('en') ?? '-'} rows/s): ${s.findings} findings, ${s.created} new.`));
    },
  },
  {
    name: 'reimburse moderation',
    summary: 'Settle moderation reimbursement for a month that has ended (idempotent per account, model and month)',
    options: { month: { type: 'string', value: 'YYYY-MM', help: 'the month, e.g. 2026-11 (required)' } },
    details: 'The policy (which models, fixed amount or percent, the spend threshold) is the programme\'s: GET|PUT /admin/v1/programme.',
    async run({ values: v, io }) {
      const month = required(v, 'month', 'reimburse moderation');
      const run = await withServices((ctx) => settleModeration(ctx, month));
      const data = run.settlements.map((s) => ({ ...settlementView(s.settlement), replayed: s.replayed }));
      io.result({ month, settlements: data, below_threshold: run.below_threshold.map((b) => ({ ...b, spend: formatUsd(b.spend) })) }, () => {
        io.line(`Moderation reimbursement for ${month}:`);
        io.table(data, [['account_id', 'ACCOUNT'], ['model', 'MODEL'], ['requests', 'REFUSALS'], ['amount', 'CREDIT'], ['credit_id', 'CREDIT ID'], ['replayed', 'SETTLED BEFORE']]);
        if (run.below_threshold.length) io.line(`${run.below_threshold.length} account/model pair(s) below the monthly spend threshold: not reimbursed.`);
      });
    },
  },
];
