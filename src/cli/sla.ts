import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AppError } from '../kernel/errors.ts';
import { isoTime } from '../kernel/validation.ts';
import { amendContract, contractView, createContract, listContracts } from '../contracts/contracts.ts';
import { closePeriod } from '../contracts/close.ts';
import { closedView, contractReport } from '../contracts/service.ts';
import { SLA_INTERVALS, asAsync, intervalRows } from '../contracts/intervals.ts';
import { reportHtml } from '../contracts/html.ts';
import { rebuildRollups } from '../requests/rollups.ts';
import { defined, limit, LIMIT_OPTION, required, str, withServices, type Command, type Io } from './framework.ts';
import { OUT_OPTIONS, formatsOf, materialise, printManifest } from './export.ts';

// `surety sla …` (contracts, reports, closing) and `surety rollups rebuild`, over the same
// services as /admin/v1/contracts. Terms are given as a JSON file (README "SLA contracts").

function readTerms(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new AppError('VALIDATION', `--terms: ${path} is not a readable JSON file (${(e as Error).message})`, { field: 'terms' });
  }
}

function printReport(io: Io, r: Record<string, any>, ms: number): void {
  io.line(`${r.name} (${r.contract_id}), account ${r.account_id} — ${r.period ?? `${r.window.from} – ${r.window.to}`} [${r.status}]`);
  io.line(`availability ${r.availability ?? 'n/a'} % (target ${r.target} %: ${r.target_met === null ? 'nothing measured' : r.target_met ? 'met' : 'missed'}); eligible ${r.counts.eligible}, failed ${r.counts.failed}`);
  io.line(`excluded: ${Object.entries(r.counts.by_exclusion).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  io.table(r.segments, [['version', 'VERSION'], ['window.from', 'FROM'], ['window.to', 'TO'], ['metric.type', 'METRIC'], ['availability', 'AVAILABILITY'], ['covered_spend', 'SPEND'], ['tier_credit', 'TIER CREDIT']]);
  if (r.incidents.length) io.table(r.incidents, [['id', 'INCIDENT'], ['severity', 'SEV'], ['first_response_minutes', 'RESPONSE'], ['resolution_minutes', 'RESOLUTION'], ['breaches', 'BREACHES']]);
  const c = r.credit;
  io.line(`credit: base ${c.base}, tiers ${c.tier_credits}, support ${c.support_credits}, before cap ${c.before_cap}, cap ${c.cap ?? 'none'} → ${c.total} USD${c.claim_required ? ' (on a claim)' : ''}`);
  io.line(`measured in ${ms.toFixed(0)} ms`);
}

export const commands: Command[] = [
  {
    name: 'sla contracts',
    summary: 'List SLA contracts (all, or one account\'s)',
    options: { account: { type: 'string', value: 'ID', help: 'only this account' }, limit: LIMIT_OPTION },
    async run({ values: v, io }) {
      const rows = await withServices((ctx) => listContracts(ctx, { accountId: str(v, 'account'), limit: limit(v, 'sla contracts') }));
      const data = rows.map((c) => contractView(c));
      io.result({ data }, () => io.table(data, [['id', 'ID'], ['account_id', 'ACCOUNT'], ['name', 'NAME'], ['version', 'VERSION'], ['terms.target_percent', 'TARGET'], ['terms.metric.type', 'METRIC'], ['terms.time_zone', 'ZONE']]));
    },
  },
  {
    name: 'sla create',
    summary: 'Sign an SLA contract for an account, its terms from a JSON file',
    options: { account: { type: 'string', value: 'ID', help: 'the account' }, name: { type: 'string', value: 'TEXT', help: 'the contract\'s name' }, terms: { type: 'string', value: 'FILE', help: 'the terms (JSON; README "SLA contracts")' } },
    async run({ values: v, io }) {
      const input = { account_id: required(v, 'account', 'sla create'), name: required(v, 'name', 'sla create'), terms: readTerms(required(v, 'terms', 'sla create')) };
      const view = contractView(await withServices((ctx) => createContract(ctx, input)));
      io.result(view, () => io.line(`Contract ${view.id} signed for ${view.account_id} (version 1).`));
    },
  },
  {
    name: 'sla amend',
    summary: 'Amend a contract: the terms in the file replace the current ones from a date',
    options: {
      contract: { type: 'string', value: 'ID', help: 'the contract' },
      'effective-from': { type: 'string', value: 'ISO', help: 'when the new version takes effect' },
      reason: { type: 'string', value: 'TEXT', help: 'why' },
      terms: { type: 'string', value: 'FILE', help: 'the changed top-level terms (JSON)' },
    },
    async run({ values: v, io }) {
      const input = { effective_from: required(v, 'effective-from', 'sla amend'), reason: required(v, 'reason', 'sla amend'), terms: readTerms(required(v, 'terms', 'sla amend')) };
      const view = contractView(await withServices((ctx) => amendContract(ctx, required(v, 'contract', 'sla amend'), input)));
      io.result(view, () => io.line(`Contract ${view.id} is at version ${view.version} from ${input.effective_from}.`));
    },
  },
  {
    name: 'sla report',
    summary: 'An SLA report for a period or a window; with --out, the intervals export, report.json and report.html',
    options: {
      contract: { type: 'string', value: 'ID', help: 'the contract' },
      period: { type: 'string', value: 'YYYY-MM', help: 'a month in the contract\'s time zone (default: the current one)' },
      from: { type: 'string', value: 'ISO', help: 'window start (with --to, instead of --period)' },
      to: { type: 'string', value: 'ISO', help: 'window end' },
      ...OUT_OPTIONS,
    },
    details: 'Example: surety sla report --contract sla_… --period 2026-11 --out ./sla-2026-11\nThe directory then holds sla-intervals CSV/NDJSON with manifest.json (check with surety export verify), report.json and report.html.',
    async run({ values: v, io }) {
      const id = required(v, 'contract', 'sla report');
      const q = defined({ period: str(v, 'period'), from: str(v, 'from'), to: str(v, 'to') });
      for (const f of ['from', 'to'] as const) if (q[f] !== undefined && !isoTime.safeParse(q[f]).success) throw new AppError('VALIDATION', `--${f}: must be an ISO 8601 time`, { field: f });
      const out = str(v, 'out');
      const started = performance.now();
      const r = await withServices(async (ctx) => {
        const rep = await contractReport(ctx, id, q);
        const ms = performance.now() - started;
        if (!out) return { rep, ms, manifest: null };
        const dir = resolve(out);
        const manifest = await materialise(dir, `sla-intervals-${id}`, SLA_INTERVALS, formatsOf(v), asAsync(intervalRows(rep.contract.id, rep.contract.account_id, rep.series)), { contract_id: id, period: rep.view.period ?? null, window: rep.view.window, status: rep.view.status });
        writeFileSync(join(dir, 'report.json'), `${JSON.stringify(rep.view, null, 2)}\n`);
        writeFileSync(join(dir, 'report.html'), reportHtml(rep.view));
        return { rep, ms, manifest: { dir, manifest } };
      });
      io.result({ ...r.rep.view, measured_ms: Math.round(r.ms) }, () => {
        printReport(io, r.rep.view as Record<string, any>, r.ms);
        if (r.manifest) printManifest(io, r.manifest.dir, r.manifest.manifest);
      });
    },
  },
  {
    name: 'sla close',
    summary: 'Close a period: immutable snapshot, capped credit posted once, customer notified (again: no-op)',
    options: { contract: { type: 'string', value: 'ID', help: 'the contract' }, period: { type: 'string', value: 'YYYY-MM', help: 'the month to close' } },
    async run({ values: v, io }) {
      const r = await withServices((ctx) => closePeriod(ctx, required(v, 'contract', 'sla close'), required(v, 'period', 'sla close')));
      const view = { ...closedView(r.closed), created: r.created, credit_id: r.credit?.id ?? null, note: r.note };
      io.result(view, () => {
        io.line(r.created ? `Closed ${r.closed.period}:` : `${r.closed.period} was already closed; nothing changed:`);
        io.record(view);
      });
    },
  },
  {
    name: 'rollups rebuild',
    summary: 'Recompute the per-minute request and traffic rollups of a range from the request log (progress per day)',
    options: { from: { type: 'string', value: 'ISO', help: 'range start' }, to: { type: 'string', value: 'ISO', help: 'range end (default now)' } },
    async run({ values: v, io }) {
      const parse = (name: string, s: string) => {
        const r = isoTime.safeParse(s);
        if (!r.success) throw new AppError('VALIDATION', `--${name}: must be an ISO 8601 time`, { field: name });
        return r.data;
      };
      const from = parse('from', required(v, 'from', 'rollups rebuild'));
      const to = str(v, 'to') ? parse('to', str(v, 'to')!) : Date.now();
      if (to <= from) throw new AppError('VALIDATION', '--to: must be after --from', { field: 'to' });
      const started = performance.now();
      const r = await withServices((_ctx, rt) => rebuildRollups(rt.db, from, to, (done, total, requests) => process.stderr.write(`\rrebuilding rollups: day ${done}/${total}, ${requests} requests`)));
      process.stderr.write('\n');
      const view = { ...r, seconds: Math.round(performance.now() - started) / 1000 };
      io.result(view, () => io.line(`Rebuilt ${r.rollups} rollup rows and ${r.traffic} traffic rollup rows over ${r.days} days from ${r.requests} requests in ${view.seconds} s.`));
    },
  },
];
