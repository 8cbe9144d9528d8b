import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { newId } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { actorId, type ServiceContext } from '../kernel/context.ts';
import { idempotent } from '../kernel/idempotency.ts';
import { formatUsd } from '../kernel/money.ts';
import { iso, parseInput, usdAmount } from '../kernel/validation.ts';
import { issueCredit, type Credit } from '../billing/credits.ts';
import { book, lockAccount } from '../billing/books.ts';
import { writeTx } from '../billing/journal.ts';
import type { Queryable } from '../storage/port.ts';
import { enqueue } from '../notify/outbox.ts';
import { getContract, versionAt } from './contracts.ts';
import { buildReport, reportView } from './report.ts';
import { compactSeries } from './intervals.ts';
import { incidentSource } from './incident-source.ts';
import type { IncidentSource } from './support.ts';
import { DAY, PERIOD_RE } from './periods.ts';
import { closedPeriod, windowOfPeriod, type ClosedPeriod } from './service.ts';
import { claimOf } from './claims.ts';

// Closing a period: the report is measured once more and stored as an immutable snapshot, the
// capped credit is posted once (billing/credits.ts, kind `sla`, idempotency key derived from the
// contract and the period), and the customer is notified. Closing again finds the snapshot and
// changes nothing: the credit replays from its key (so a close interrupted after the snapshot and
// before the credit completes on the next try). The customer is notified through the outbox
// (`sla.period_closed`, in the snapshot's transaction, keyed by contract and period: once). A
// change after closing is a correction: a correcting ledger entry with its reason, never an edit
// of the snapshot (`sla.period_corrected`).

export interface CloseResult {
  closed: ClosedPeriod;
  created: boolean;
  credit: Credit | null;
  note: string | null;
}

export const creditKey = (contractId: string, period: string) => `sla:${contractId}:${period}`;

export async function closePeriod(ctx: ServiceContext, contractId: string, period: string, incidents: IncidentSource = incidentSource(ctx.db)): Promise<CloseResult> {
  requireOperator(ctx.actor);
  if (!PERIOD_RE.test(period)) throw new AppError('VALIDATION', `period: must be a month like "2026-11", got ${JSON.stringify(period)}`, { field: 'period' });
  const c = await getContract(ctx, contractId);
  const w = windowOfPeriod(c, period);
  const now = ctx.now();
  if (now < w.to) throw new AppError('SLA_PERIOD_NOT_OVER', `Period ${period} ends at ${iso(w.to)}; it can be closed after that.`, { field: 'period' });
  let closed = await closedPeriod(ctx.db, contractId, period);
  let created = false;
  let note: string | null = null;
  if (!closed) {
    const terms = versionAt(c, w.to - 1).terms;
    let zero = false;
    if (terms.claims.required && !(await claimOf(ctx.db, contractId, period))) {
      const deadline = w.to + terms.claims.deadline_days * DAY;
      if (now <= deadline) throw new AppError('SLA_AWAITING_CLAIM', `Contract ${contractId} pays on a claim; none was filed for ${period} yet, and claims are open until ${iso(deadline)}.`);
      zero = true;
      note = `no claim was filed before the deadline ${iso(deadline)}: no credit`;
    }
    const report = await buildReport(ctx.db, incidents, c, w, period, now);
    const view = reportView(report);
    const credit = zero ? 0n : report.settlement.total;
    const snapshot = { ...view, credit: { ...(view.credit as object), paid: formatUsd(credit), note }, series: report.segments.map(compactSeries) };
    created = await ctx.db.tx(async (q) => {
      const ins = await q.run(
        `INSERT INTO sla_periods (contract_id, period, account_id, from_at, to_at, availability, credit_before_cap, credit, snapshot, closed_by, closed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (contract_id, period) DO NOTHING`,
        [contractId, period, c.account_id, w.from, w.to, view.availability as string | null, report.settlement.before_cap, credit, JSON.stringify(snapshot), actorId(ctx.actor), now],
      );
      if (ins.changes === 0) return false;
      await audit(q, ctx.actor, 'sla.period.close', { type: 'sla_period', id: `${contractId}/${period}`, accountId: c.account_id }, undefined, { availability: view.availability, credit: formatUsd(credit), note }, now);
      const notice = {
        contract_id: contractId, name: c.name, period, window: view.window, availability: view.availability, target: view.target, target_met: view.target_met,
        credit_before_cap: formatUsd(report.settlement.before_cap), credit: formatUsd(credit), note, report: `/account/v1/sla/${contractId}/report?period=${period}`,
      };
      await enqueue(q, { topic: 'sla.period_closed', accountId: c.account_id, payload: notice, key: `sla:${contractId}:${period}:closed`, at: now });
      return true;
    });
    closed = (await closedPeriod(ctx.db, contractId, period))!;
  }
  let credit: Credit | null = null;
  if (closed.credit > 0n) {
    const memo = `SLA credit for ${period} (${c.name}): availability ${closed.availability ?? 'n/a'} %`;
    credit = (await issueCredit(ctx, { accountId: c.account_id, kind: 'sla', amount: closed.credit, refType: 'sla_period', refId: `${contractId}/${period}`, memo }, creditKey(contractId, period))).credit;
  }
  return { closed, created, credit, note: note ?? ((closed.snapshot.credit as { note?: string | null } | undefined)?.note ?? null) };
}

export const CorrectionInput = z.object({ amount: usdAmount({ allowNegative: true }), reason: z.string().trim().min(1).max(2000) }).strict();

/**
 * A correction of a closed period: more credit (a credit through billing/credits.ts, kind `sla`)
 * or some taken back (a correcting journal entry from the granted bucket back to `s:credits`,
 * never more than is still there). Idempotent by the caller's key; the snapshot stays as it was
 * and the corrections are listed beside it.
 */
export async function correctPeriod(ctx: ServiceContext, contractId: string, period: string, raw: unknown, idempotencyKey: string): Promise<{ correction: Record<string, unknown>; replayed: boolean }> {
  requireOperator(ctx.actor);
  const input = parseInput(CorrectionInput, raw);
  if (input.amount === 0n) throw new AppError('VALIDATION', 'amount: a correction moves money; it cannot be 0', { field: 'amount' });
  const c = await getContract(ctx, contractId);
  if (!(await closedPeriod(ctx.db, contractId, period))) throw new AppError('CONFLICT', `Period ${period} of ${contractId} is not closed; a report before closing needs no correction.`);
  const memo = `SLA correction for ${period} (${c.name}): ${input.reason}`;
  const record = async (q: Queryable, id: string, txId: string, at: number) => {
    const ins = await q.run('INSERT INTO sla_corrections (id, contract_id, period, account_id, amount, reason, tx_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING', [
      id, contractId, period, c.account_id, input.amount, input.reason, txId, actorId(ctx.actor), at,
    ]);
    const view = { id, contract_id: contractId, period, amount: formatUsd(input.amount), reason: input.reason, tx_id: txId, created_at: iso(at) };
    if (ins.changes > 0) {
      await audit(q, ctx.actor, 'sla.period.correct', { type: 'sla_period', id: `${contractId}/${period}`, accountId: c.account_id }, undefined, view, at);
      await enqueue(q, { topic: 'sla.period_corrected', accountId: c.account_id, payload: view, key: `sla:${contractId}:${period}:correction:${id}`, at });
    }
    return view;
  };
  if (input.amount > 0n) {
    const { credit, replayed } = await issueCredit(ctx, { accountId: c.account_id, kind: 'sla', amount: input.amount, refType: 'sla_period', refId: `${contractId}/${period}`, memo }, `sla-correction:${contractId}:${period}:${idempotencyKey}`.slice(0, 200));
    const view = await ctx.db.tx((q) => record(q, `slc_${credit.id}`, credit.tx_id, credit.created_at));
    return { correction: view, replayed };
  }
  const now = ctx.now();
  const payload = { op: 'sla-correction', contractId, period, amount: input.amount.toString(), reason: input.reason };
  const { result, replayed } = await idempotent(ctx.db, { scope: `sla-correction:${contractId}`, key: idempotencyKey, payload }, async (q) => {
    const m = await lockAccount(ctx.db, q, c.account_id);
    if (m.granted < -input.amount) throw new AppError('CONFLICT', `The account's granted balance is ${formatUsd(m.granted)} USD; ${formatUsd(-input.amount)} USD cannot be taken back.`);
    const id = newId('slc', now);
    const entries = [
      { book: book.customer(c.account_id, 'granted'), amount: input.amount },
      { book: book.credits, amount: -input.amount },
    ];
    const txId = await writeTx(ctx.db, q, { kind: 'credit_correction', accountId: c.account_id, memo, refType: 'sla_correction', refId: id, actor: actorId(ctx.actor), entries, at: now });
    return record(q, id, txId, now);
  }, now);
  ctx.bus.balanceChanged(c.account_id);
  return { correction: result, replayed };
}
