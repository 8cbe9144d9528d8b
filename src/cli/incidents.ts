import { resolve } from 'node:path';
import { declareIncident, getIncident, incidentView, listIncidents, patchIncident, postIncidentUpdate, resolveIncident } from '../incidents/index.ts';
import { previewIncident, previewView, reissueIncident, reissueView, reverseOnReattribution, type Movement } from '../incidents/reissue.ts';
import { detectIncidents, detectorSettings } from '../incidents/detector.ts';
import { INCIDENT_SCOPE_DATASETS, scopeFileBase, scopeRows } from '../incidents/export.ts';
import { channelIds, selection } from '../incidents/scope.ts';
import { loadIncident } from '../incidents/service.ts';
import { AppError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validation.ts';
import { LossInput } from '../incidents/loss.ts';
import { formatsOf, materialise, OUT_OPTIONS, printManifest } from './export.ts';
import { defined, flag, limit, LIMIT_OPTION, list, required, str, UsageError, withServices, type Command, type Io, type OptionSpec, type Values } from './framework.ts';

// `surety incident …`: declare, update, resolve, list and show incidents; preview the affected
// scope as a table; export it into a directory with its manifest; reissue credits (reviewed: the
// preview first, then --yes with the total it showed); run the draft detector once.

const s = (help: string, value = 'TEXT'): OptionSpec => ({ type: 'string', value, help });

const FIELDS: Record<string, OptionSpec> = {
  title: s('one line saying what is wrong'),
  summary: s('a longer description'),
  severity: s('sev1 (worst) … sev4', 'SEV'),
  impact: s('none, minor, major or critical', 'IMPACT'),
  attribution: s('platform, upstream, upstream_moderation, upstream_rate_limit, customer or unknown', 'WHO'),
  components: s('status-page component ids, comma-separated', 'IDS'),
  models: s('scope: model ids, comma-separated (none: all)', 'IDS'),
  channels: s('scope: channel ids or names, comma-separated', 'IDS'),
  endpoints: s('scope: endpoints (chat, embeddings, images), comma-separated', 'LIST'),
  accounts: s('scope: account ids, comma-separated', 'IDS'),
  start: s('window start, may be in the past (ISO 8601)', 'ISO'),
  end: s('window end (ISO 8601)', 'ISO'),
};

const LOSS: Record<string, OptionSpec> = {
  outcome: s('which requests count: charged (default), failed or all', 'PRESET'),
  'goodwill-pct': s('add this percentage to the charged amounts', 'PCT'),
  'min-per-account': s('credit each affected account at least this (USD)', 'USD'),
  'per-failed-image': s('add this per failed image request (USD)', 'USD'),
};

/** The scope given on the command line (only the lists given), or undefined. */
function scopeOf(v: Values): Record<string, string[]> | undefined {
  const sc = defined({ models: list(v, 'models') ?? undefined, channels: list(v, 'channels') ?? undefined, endpoints: list(v, 'endpoints') ?? undefined, accounts: list(v, 'accounts') ?? undefined });
  return Object.keys(sc).length ? sc : undefined;
}

function fieldsOf(v: Values): Record<string, unknown> {
  return defined({
    title: str(v, 'title'), summary: str(v, 'summary'), severity: str(v, 'severity'), impact: str(v, 'impact'), attribution: str(v, 'attribution'),
    components: list(v, 'components') ?? undefined, scope: scopeOf(v), window_start: str(v, 'start'), window_end: str(v, 'end'),
  });
}

function lossOf(v: Values): Record<string, string> | undefined {
  const l = defined({ goodwill_pct: str(v, 'goodwill-pct'), min_per_account: str(v, 'min-per-account'), per_failed_image: str(v, 'per-failed-image') });
  return Object.keys(l).length ? { ...(str(v, 'outcome') ? { outcome: str(v, 'outcome')! } : {}), ...l } : undefined;
}

function printIncident(io: Io, view: Record<string, unknown>): void {
  const { updates, ...rest } = view as { updates?: Array<Record<string, unknown>> };
  io.record(rest);
  if (updates) {
    io.line();
    io.table(updates, [['created_at', 'AT'], ['visibility', 'VISIBILITY'], ['status', 'STATUS'], ['body', 'TEXT']]);
  }
}

function printPreview(io: Io, p: Record<string, any>): void {
  io.line(`Incident ${p.incident_id} (${p.attribution}${p.reissuable ? '' : ': not reissued'}), ${p.filter.from} → ${p.filter.to}, outcome ${p.filter.outcome}; formula ${JSON.stringify(p.formula)}`);
  io.table(p.accounts, [['account_id', 'ACCOUNT'], ['requests', 'REQUESTS'], ['charged_requests', 'CHARGED#'], ['failed_requests', 'FAILED#'], ['failed_images', 'IMAGES'], ['charged', 'CHARGED'], ['loss', 'LOSS'], ['credited', 'CREDITED'], ['to_credit', 'TO CREDIT']]);
  const t = p.totals;
  io.line(`${t.accounts} account(s), ${t.requests} request(s); charged ${t.charged}, loss ${t.loss}, credited ${t.credited}, to credit ${t.to_credit} USD`);
}

/** Rows counted as they pass, with a progress line on stderr every 100,000 (long exports). */
async function* withProgress<T>(rows: AsyncIterable<T>, what: string): AsyncIterable<T> {
  let n = 0;
  const started = Date.now();
  for await (const r of rows) {
    if (++n % 100_000 === 0) process.stderr.write(`${what}: ${n} rows (${Math.round(n / ((Date.now() - started) / 1000 || 1))}/s)\n`);
    yield r;
  }
}

const idArg = ['id'];

export const commands: Command[] = [
  {
    name: 'incident declare',
    summary: 'Declare an incident (published with its first public update unless --draft) or schedule a maintenance',
    options: { ...FIELDS, detected: s('when it was detected (default now)', 'ISO'), message: s('the first public update'), draft: { type: 'boolean', help: 'keep it unpublished' },
      maintenance: { type: 'boolean', help: 'a scheduled maintenance (needs --planned-start and --planned-end)' }, 'planned-start': s('planned start (maintenance)', 'ISO'), 'planned-end': s('planned end (maintenance)', 'ISO') },
    details: 'Example: surety incident declare --title "Errors on gpt-4o-mini" --severity sev2 --impact major --attribution platform --models gpt-4o-mini --start 2026-03-04T09:40:00Z --components openai',
    async run({ values: v, io }) {
      const body: Record<string, unknown> = { ...fieldsOf(v), ...defined({ detected_at: str(v, 'detected'), message: str(v, 'message'), planned_start: str(v, 'planned-start'), planned_end: str(v, 'planned-end') }), ...(flag(v, 'draft') ? { draft: true } : {}), ...(flag(v, 'maintenance') ? { kind: 'maintenance' } : {}) };
      if (body.title === undefined) throw new UsageError('--title is required', 'incident declare');
      const view = await withServices(async (ctx) => {
        const i = await declareIncident(ctx, body);
        return incidentView(i, (await getIncident(ctx, i.id)).updates);
      });
      io.result(view, () => printIncident(io, view));
    },
  },
  {
    name: 'incident list',
    summary: 'Incidents and maintenance, newest first',
    options: { status: s('draft, open, closed or a status', 'STATUS'), kind: s('incident or maintenance', 'KIND'), limit: LIMIT_OPTION },
    async run({ values: v, io }) {
      const n = limit(v, 'incident list');
      const data = (await withServices((ctx) => listIncidents(ctx, defined({ status: str(v, 'status'), kind: str(v, 'kind'), limit: String(n) })))).map((i) => incidentView(i));
      io.result({ data }, () => io.table(data, [['id', 'ID'], ['kind', 'KIND'], ['status', 'STATUS'], ['severity', 'SEV'], ['attribution', 'ATTRIBUTION'], ['window.start', 'START'], ['window.end', 'END'], ['title', 'TITLE']]));
    },
  },
  {
    name: 'incident show',
    summary: 'An incident with its timeline (public updates and internal notes)',
    args: idArg,
    async run({ positionals: [id], io }) {
      const view = await withServices(async (ctx) => {
        const { incident, updates } = await getIncident(ctx, id!);
        return incidentView(incident, updates);
      });
      io.result(view, () => printIncident(io, view));
    },
  },
  {
    name: 'incident update',
    summary: 'Change an incident\'s fields, post a public update (--message, --status) or an internal note (--note)',
    args: idArg,
    options: { ...FIELDS, status: s('the public status the update sets', 'STATUS'), message: s('a public update'), note: s('an internal note (never public)') },
    details: 'Example: surety incident update inc_… --status identified --message "A bad deploy; rolling back." --end 2026-03-04T10:05:00Z',
    async run({ values: v, positionals: [id], io }) {
      const fields = fieldsOf(v);
      const message = str(v, 'message');
      const note = str(v, 'note');
      if (str(v, 'status') && !message) throw new UsageError('--status goes with --message (a public update)', 'incident update');
      if (!Object.keys(fields).length && !message && !note) throw new UsageError('nothing to change: give fields, --message or --note', 'incident update');
      const { view, reversed } = await withServices(async (ctx) => {
        let reversed: Movement[] = [];
        if (Object.keys(fields).length) await patchIncident(ctx, id!, fields, async (q, c) => void (reversed = await reverseOnReattribution(ctx, q, c)));
        if (note) await postIncidentUpdate(ctx, id!, { visibility: 'internal', body: note });
        if (message) await postIncidentUpdate(ctx, id!, defined({ status: str(v, 'status'), body: message }));
        const { incident, updates } = await getIncident(ctx, id!);
        return { view: incidentView(incident, updates), reversed };
      });
      io.result({ ...view, reversed: reversed.map((m) => ({ account_id: m.account_id, credit_id: m.credit_id, amount: m.amount })) }, () => {
        printIncident(io, view);
        for (const m of reversed) io.line(`reversed: ${m.account_id} ${m.amount} nano-USD (credit ${m.credit_id})`);
      });
    },
  },
  {
    name: 'incident resolve',
    summary: 'Resolve an incident (or complete a maintenance): a public update and the window\'s end',
    args: idArg,
    options: { end: s('window end (default now; editable later)', 'ISO'), message: s('the resolving update (default: "This incident has been resolved.")') },
    async run({ values: v, positionals: [id], io }) {
      const view = await withServices(async (ctx) => {
        await resolveIncident(ctx, id!, defined({ end: str(v, 'end'), message: str(v, 'message') }));
        const { incident, updates } = await getIncident(ctx, id!);
        return incidentView(incident, updates);
      });
      io.result(view, () => printIncident(io, view));
    },
  },
  {
    name: 'incident preview',
    summary: 'The affected scope per account (requests, charged, loss, credited, to credit); writes nothing',
    args: idArg,
    options: { outcome: LOSS.outcome!, account: s('only this account', 'ID') },
    async run({ values: v, positionals: [id], io }) {
      const view = await withServices(async (ctx) => previewView(await previewIncident(ctx, id!, defined({ outcome: str(v, 'outcome'), account_id: str(v, 'account') }))));
      io.result(view, () => printPreview(io, view));
    },
  },
  {
    name: 'incident export',
    summary: 'Export an incident\'s affected requests into a directory: CSV and/or NDJSON and manifest.json',
    args: idArg,
    options: { ...OUT_OPTIONS, account: s('only this account', 'ID'), outcome: LOSS.outcome!, customer: { type: 'boolean', help: "the customer's columns (for handing one account its slice)" } },
    details: 'Check it with: surety export verify DIR',
    async run({ values: v, positionals: [id], io }) {
      const dir = resolve(required(v, 'out', 'incident export'));
      const formats = formatsOf(v);
      const m = await withServices(async (ctx, rt) => {
        const incident = await loadIncident(rt.db, id!);
        const outcome = str(v, 'outcome') ?? 'charged';
        if (!['charged', 'failed', 'all'].includes(outcome)) throw new AppError('VALIDATION', '--outcome: must be charged, failed or all', { field: 'outcome' });
        const sel = selection(incident, outcome as 'charged', ctx.now(), { accountId: str(v, 'account'), channelIds: await channelIds(rt.db) });
        const audience = flag(v, 'customer') ? 'customer' : 'operator';
        return materialise(dir, scopeFileBase(incident.id, str(v, 'account')), INCIDENT_SCOPE_DATASETS[audience], formats, withProgress(scopeRows(rt.db, incident.id, sel, audience), 'exported'), sel.describe);
      });
      io.result(m, () => printManifest(io, dir, m));
    },
  },
  {
    name: 'incident reissue',
    summary: 'Reissue credits for a platform incident, once per account: shows the preview; --yes applies it',
    args: idArg,
    options: { ...LOSS, account: s('only this account', 'ID'), yes: { type: 'boolean', help: 'apply (after reviewing the preview)' }, 'expected-total': s('the "to credit" total you reviewed; refused if it changed', 'USD') },
    details: 'Review first: surety incident reissue inc_…  — then: surety incident reissue inc_… --yes --expected-total <the total it showed>\nRunning it again credits nothing twice; a wider window or scope credits only the difference.',
    async run({ values: v, positionals: [id], io }) {
      const loss = lossOf(v);
      const args = defined({ outcome: str(v, 'outcome'), account_id: str(v, 'account') });
      if (!flag(v, 'yes')) {
        const view = await withServices(async (ctx) => previewView(await previewIncident(ctx, id!, args, loss ? parseInput(LossInput, loss, 'options') : undefined)));
        io.result({ applied: false, preview: view }, () => {
          printPreview(io, view);
          io.line(`Nothing was credited. To apply: surety incident reissue ${id} --yes --expected-total ${(view.totals as { to_credit: string }).to_credit}${loss ? ' (with the same formula options)' : ''}`);
        });
        return;
      }
      const r = await withServices(async (ctx) => reissueView(await reissueIncident(ctx, id!, { ...args, ...(loss ? { loss } : {}), ...defined({ expected_total: str(v, 'expected-total') }) })));
      io.result({ applied: true, ...r }, () => {
        io.table(r.accounts as Array<Record<string, unknown>>, [['account_id', 'ACCOUNT'], ['requests', 'REQUESTS'], ['charged', 'CHARGED'], ['credited_now', 'CREDITED NOW'], ['total', 'TOTAL'], ['credit_id', 'CREDIT']]);
        const t = r.totals as Record<string, unknown>;
        io.line(`Credited now ${t.credited_now} USD to ${t.accounts_credited_now} account(s); ${t.total} USD in total for this incident.`);
      });
    },
  },
  {
    name: 'incident detect',
    summary: 'Run the draft-incident detector once over the last window (it also runs every minute in the gateway)',
    async run({ io }) {
      const ids = await withServices((_ctx, rt) => detectIncidents(rt, detectorSettings(rt.config)));
      io.result({ opened: ids }, () => io.line(ids.length ? `Opened ${ids.length} draft incident(s): ${ids.join(', ')}` : 'No component crossed its threshold; no draft opened.'));
    },
  },
];
