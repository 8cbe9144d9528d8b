import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { formatUsd, parseUsd } from '../kernel/money.ts';
import { parseInput, usdAmount } from '../kernel/validation.ts';
import { big, num, str, type Queryable } from '../storage/port.ts';
import { lockAccount } from '../billing/books.ts';
import { creditInTx } from '../billing/credits.ts';
import { enqueue } from '../notify/outbox.ts';
import { DEFAULT_LOSS, LossInput, OUTCOME_PRESETS, lossView, type LossFormula, type OutcomePreset } from './loss.ts';
import type { Incident } from './model.ts';
import { affectedByAccount, channelIds, lineView, previewLines, selection, type PreviewLine, type Selection } from './scope.ts';
import { loadIncident, patchIncident, type IncidentChange } from './service.ts';

// Reissuance (DESIGN guarantee 3): for a platform-attributed incident, each affected account is
// credited the loss formula over its affected requests — once. What an account was credited for an
// incident is the sum of its movements (incident_reissues); a run moves only the difference
// between the formula now and that sum, so applying twice credits once, widening the window or
// scope credits the difference, and narrowing it (or moving the attribution away from `platform`)
// posts correcting entries. Each movement is one transaction: the account locked, the sum re-read
// under the lock, the credit (billing/credits.ts, kind `reissue`, batch `incident:<id>:<seq>`),
// the movement row, the notice and the audit entry. The unique (incident, account, seq) and the
// credits' unique (batch, account) make a second movement for one step impossible, even in a race.

export const PreviewInput = z.object({ outcome: z.enum(OUTCOME_PRESETS).optional(), account_id: z.string().min(1).max(200).optional() }).strict();

export const ReissueInput = z
  .object({
    outcome: z.enum(OUTCOME_PRESETS).optional(),
    /** A new loss formula, kept on the incident (its record) and applied now. */
    loss: LossInput.optional(),
    account_id: z.string().min(1).max(200).optional(),
    /** The total to move that the operator reviewed in the preview: refused if the scope moved since. */
    expected_total: usdAmount({ allowZero: true, allowNegative: true }).optional(),
  })
  .strict();

export interface Preview {
  incident: Incident;
  formula: LossFormula;
  reissuable: boolean;
  filter: Record<string, unknown>;
  lines: PreviewLine[];
}

const formulaOf = (i: Incident, outcome?: OutcomePreset): LossFormula => {
  const f = { ...DEFAULT_LOSS, ...((i.loss as Partial<LossFormula> | null) ?? {}) };
  return outcome ? { ...f, outcome } : f;
};

/** What each account was credited for an incident so far (net of corrections). */
async function creditedSoFar(q: Queryable, incidentId: string, accountId?: string): Promise<Map<string, bigint>> {
  const rows = await q.all(
    `SELECT account_id, CAST(SUM(amount) AS BIGINT) AS total FROM incident_reissues WHERE incident_id = ?${accountId ? ' AND account_id = ?' : ''} GROUP BY account_id`,
    accountId ? [incidentId, accountId] : [incidentId],
  );
  return new Map(rows.map((r) => [str(r.account_id), big(r.total)]));
}

/** The affected scope per account with what reissuance would move. Writes nothing. */
export async function previewIncident(ctx: ServiceContext, id: string, raw: unknown = {}, formulaOverride?: LossFormula): Promise<Preview> {
  requireOperator(ctx.actor);
  const f = parseInput(PreviewInput, raw, 'query');
  const incident = await loadIncident(ctx.db, id);
  const formula = formulaOverride ? { ...formulaOverride, ...(f.outcome ? { outcome: f.outcome } : {}) } : formulaOf(incident, f.outcome);
  const s = selection(incident, formula.outcome, ctx.now(), { accountId: f.account_id, channelIds: await channelIds(ctx.db) });
  const reissuable = incident.attribution === 'platform';
  const lines = previewLines(await affectedByAccount(ctx.db, s), await creditedSoFar(ctx.db, id, f.account_id), formula, reissuable);
  return { incident, formula, reissuable, filter: s.describe, lines };
}

export function previewView(p: Preview): Record<string, unknown> {
  const sum = (k: 'requests' | 'charged_requests' | 'failed_requests' | 'failed_images') => p.lines.reduce((n, l) => n + l[k], 0);
  const money = (k: 'charged' | 'loss' | 'credited' | 'to_credit') => formatUsd(p.lines.reduce((n, l) => n + l[k], 0n));
  return {
    incident_id: p.incident.id,
    attribution: p.incident.attribution,
    reissuable: p.reissuable,
    filter: p.filter,
    formula: lossView(p.formula),
    accounts: p.lines.map(lineView),
    totals: {
      accounts: p.lines.length, requests: sum('requests'), charged_requests: sum('charged_requests'), failed_requests: sum('failed_requests'), failed_images: sum('failed_images'),
      charged: money('charged'), loss: money('loss'), credited: money('credited'), to_credit: money('to_credit'),
    },
  };
}

/** What a movement was computed from: enough to list the requests it covered again (credit details). */
export interface Basis {
  filter: Record<string, unknown>;
  window: [number, number];
  scope: Incident['scope'];
  formula: LossFormula;
  requests: number;
  charged: string;
  loss: string;
}

export interface Movement {
  account_id: string;
  seq: number;
  amount: bigint;
  total: bigint;
  credit_id: string;
}

/** An account a run could not (fully) move: closed, or a correction beyond what it holds. */
export interface Skipped {
  account_id: string;
  reason: string;
}

/**
 * Moves an account's credit for an incident to `target`, inside `q`: nothing when it is there
 * already (a replay, or a concurrent run that got there first). A correction never takes an account
 * below its credit line: what it cannot take back now stays credited (and shows in the preview).
 */
async function moveTo(ctx: ServiceContext, q: Queryable, i: Incident, accountId: string, target: bigint, basis: Basis, now: number, skipped: Skipped[]): Promise<Movement | null> {
  const acct = await lockAccount(ctx.db, q, accountId);
  const prior = await q.get('SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total, COALESCE(MAX(seq), 0) AS seq FROM incident_reissues WHERE incident_id = ? AND account_id = ?', [i.id, accountId]);
  const paid = big(prior?.total);
  let delta = target - paid;
  if (delta === 0n) return null;
  if (acct.status === 'closed') return (skipped.push({ account_id: accountId, reason: 'the account is closed' }), null);
  const room = acct.balance + acct.creditLine - acct.held;
  if (delta < 0n && -delta > room) {
    skipped.push({ account_id: accountId, reason: `a correction of ${formatUsd(-delta)} USD would take the account below its credit line; ${formatUsd(room > 0n ? room : 0n)} USD taken back` });
    if (room <= 0n) return null;
    delta = -room;
  }
  const total = paid + delta;
  const seq = num(prior?.seq) + 1;
  const memo = delta > 0n ? `Credit for incident ${i.id}: ${i.title}` : `Correction of the credit for incident ${i.id} (${target === 0n ? 'no longer reissued' : 'scope changed'})`;
  const credit = await creditInTx(ctx, q, { accountId, kind: 'reissue', amount: delta, refType: 'incident', refId: i.id, memo: memo.slice(0, 1000) }, `incident:${i.id}:${seq}`, now);
  await q.run(
    'INSERT INTO incident_reissues (id, incident_id, account_id, seq, amount, total, requests, charged, basis, credit_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [newId('rei', now), i.id, accountId, seq, delta, total, basis.requests, parseUsd(basis.charged, { allowZero: true }), JSON.stringify(basis), credit.id, actorId(ctx.actor), now],
  );
  const payload = { incident_id: i.id, incident_title: i.title, credit_id: credit.id, amount: formatUsd(delta), total: formatUsd(total), requests: basis.requests, correction: delta < 0n };
  await enqueue(q, { topic: 'credit.reissued', accountId, payload, key: `reissue:${i.id}:${accountId}:${seq}`, at: now });
  await audit(q, ctx.actor, 'incident.reissue', { type: 'incident', id: i.id, accountId }, { total: paid }, { total, amount: delta, credit_id: credit.id, seq }, now);
  return { account_id: accountId, seq, amount: delta, total, credit_id: credit.id };
}

function basisOf(i: Incident, s: Selection, formula: LossFormula, l: PreviewLine, now: number): Basis {
  return { filter: s.describe, window: [i.window_start, i.window_end ?? now], scope: i.scope, formula, requests: l.requests, charged: formatUsd(l.charged), loss: formatUsd(l.loss) };
}

export interface ReissueResult {
  preview: Preview;
  moved: Movement[];
  skipped: Skipped[];
}

/**
 * Applies the reissuance of a platform incident: every account's credit moved to what the formula
 * gives now. Refused (REISSUE_NOT_PLATFORM) for any other attribution; refused (REISSUE_CHANGED)
 * when `expected_total` is not what it would move. Each account's movement commits on its own.
 */
export async function reissueIncident(ctx: ServiceContext, id: string, raw: unknown = {}): Promise<ReissueResult> {
  requireOperator(ctx.actor);
  const b = parseInput(ReissueInput, raw);
  let incident = await loadIncident(ctx.db, id);
  if (incident.attribution !== 'platform') {
    throw new AppError('REISSUE_NOT_PLATFORM', `Incident ${id} is attributed to ${incident.attribution}: only platform incidents are reissued (upstream failures are handled by the billing rules of their outcomes).`, { attribution: incident.attribution });
  }
  if (b.loss) incident = (await patchIncident(ctx, id, { loss: b.loss })).incident;
  const now = ctx.now();
  const p = await previewIncident(ctx, id, { ...(b.outcome ? { outcome: b.outcome } : {}), ...(b.account_id ? { account_id: b.account_id } : {}) });
  const toMove = p.lines.reduce((n, l) => n + l.to_credit, 0n);
  if (b.expected_total !== undefined && b.expected_total !== toMove) {
    throw new AppError('REISSUE_CHANGED', `The preview you reviewed would move ${formatUsd(b.expected_total)} USD; it now moves ${formatUsd(toMove)} USD. Review the preview again.`, { expected_total: formatUsd(b.expected_total), to_credit: formatUsd(toMove) });
  }
  const s = selection(p.incident, p.formula.outcome, now, { accountId: b.account_id, channelIds: await channelIds(ctx.db) });
  const moved: Movement[] = [];
  const skipped: Skipped[] = [];
  for (const l of p.lines) {
    if (l.to_credit === 0n) continue;
    const m = await ctx.db.tx((q) => moveTo(ctx, q, p.incident, l.account_id, l.loss, basisOf(p.incident, s, p.formula, l, now), now, skipped));
    if (m) {
      moved.push(m);
      ctx.bus.balanceChanged(m.account_id);
    }
  }
  return { preview: p, moved, skipped };
}

/** The answer of a reissuance: per account, what was credited now and in total. */
export function reissueView(r: ReissueResult): Record<string, unknown> {
  const now = new Map(r.moved.map((m) => [m.account_id, m]));
  const accounts = r.preview.lines.map((l) => {
    const m = now.get(l.account_id);
    return { account_id: l.account_id, requests: l.requests, charged: formatUsd(l.charged), credited_now: formatUsd(m?.amount ?? 0n), total: formatUsd(m ? m.total : l.credited), credit_id: m?.credit_id ?? null };
  });
  return {
    incident_id: r.preview.incident.id,
    formula: lossView(r.preview.formula),
    filter: r.preview.filter,
    accounts,
    skipped: r.skipped,
    totals: { accounts_credited_now: r.moved.length, credited_now: formatUsd(r.moved.reduce((n, m) => n + m.amount, 0n)), total: formatUsd(accounts.reduce((n, a) => n + parseUsd(a.total, { allowZero: true, allowNegative: true }), 0n)) },
  };
}

/**
 * The PATCH hook: moving the attribution away from `platform` reverses every account's credit
 * for the incident with correcting entries, in the PATCH's transaction.
 */
export async function reverseOnReattribution(ctx: ServiceContext, q: Queryable, c: IncidentChange, skipped: Skipped[] = []): Promise<Movement[]> {
  if (c.before.attribution !== 'platform' || c.incident.attribution === 'platform') return [];
  const now = ctx.now();
  const moved: Movement[] = [];
  for (const [accountId, paid] of await creditedSoFar(q, c.incident.id)) {
    if (paid === 0n) continue;
    const basis: Basis = { filter: { incident_id: c.incident.id, reason: `attribution changed to ${c.incident.attribution}` }, window: [c.incident.window_start, c.incident.window_end ?? now], scope: c.incident.scope, formula: formulaOf(c.incident), requests: 0, charged: '0', loss: '0' };
    const m = await moveTo(ctx, q, c.incident, accountId, 0n, basis, now, skipped);
    if (m) moved.push(m);
  }
  return moved;
}
