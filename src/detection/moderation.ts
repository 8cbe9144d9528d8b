import { createHash } from 'node:crypto';
import { issueCredit } from '../billing/credits.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { audit } from '../kernel/audit.ts';
import type { ServiceContext } from '../kernel/context.ts';
import { AppError } from '../kernel/errors.ts';
import { formatUsd, parseUsd } from '../kernel/money.ts';
import { iso } from '../kernel/validation.ts';
import { big, num, str, type Queryable, type Row } from '../storage/port.ts';
import { claim } from './compensation.ts';
import { monthBounds, spend, MONTH } from './programme.ts';
import { programmeSettings, type ProgrammeSettings } from './settings.ts';

// Moderation reimbursement: relay platforms bill per-request image models even when the upstream
// refuses on content policy, and pay larger accounts back a fixed amount per refusal (or a
// percent of its price), settled monthly. Per (account, model, month) there is ONE settlement,
// whose id — and the idempotency key of its credit — derive from that triple: settling a month
// again pays nothing new. Each refusal is an item (a claim on its request), never more than the
// request was charged, and never what a finding already paid back on it.

export function settlementId(accountId: string, model: string, month: string): string {
  return `msr_${createHash('sha256').update(`${accountId}\u0000${model}\u0000${month}`).digest('hex').slice(0, 24)}`;
}

export interface Settlement {
  id: string;
  account_id: string;
  model: string;
  month: string;
  status: 'pending' | 'paid';
  requests: number;
  amount: bigint;
  credit_id: string | null;
  created_at: number;
}

const toSettlement = (r: Row): Settlement => ({
  id: str(r.id), account_id: str(r.account_id), model: str(r.model), month: str(r.month), status: str(r.status) as Settlement['status'],
  requests: num(r.requests), amount: big(r.amount), credit_id: r.credit_id === null ? null : str(r.credit_id), created_at: num(r.created_at),
});

export function settlementView(s: Settlement, items?: Array<{ request_id: string; amount: bigint }>): Record<string, unknown> {
  return {
    id: s.id, account_id: s.account_id, model: s.model, month: s.month, status: s.status, requests: s.requests, amount: formatUsd(s.amount), credit_id: s.credit_id,
    created_at: iso(s.created_at), ...(items ? { items: items.map((i) => ({ request_id: i.request_id, amount: formatUsd(i.amount) })) } : {}),
  };
}

export async function settlementItems(q: Queryable, id: string): Promise<Array<{ request_id: string; amount: bigint }>> {
  return (await q.all('SELECT request_id, amount FROM compensation_claims WHERE source = ? ORDER BY request_id', [`moderation:${id}`])).map((r) => ({ request_id: str(r.request_id), amount: big(r.amount) }));
}

/** What one billed refusal earns under a model's policy (never above what it was charged). */
function itemAmount(policy: ProgrammeSettings['moderation']['models'][string], charged: bigint): bigint {
  const want = policy.amount !== undefined ? parseUsd(policy.amount) : (charged * BigInt(Math.round(policy.percent! * 100))) / 10_000n;
  return want < charged ? want : charged;
}

export interface ModerationRun {
  month: string;
  settlements: Array<{ settlement: Settlement; replayed: boolean }>;
  /** Accounts with billed refusals below the month's spend threshold. */
  below_threshold: Array<{ account_id: string; model: string; requests: number; spend: bigint }>;
}

/** Settles a month that has ended: one settlement per (account, model) with billed refusals, for accounts above the threshold. */
export async function settleModeration(ctx: ServiceContext, month: string): Promise<ModerationRun> {
  requireOperator(ctx.actor);
  if (!MONTH.test(month)) throw new AppError('VALIDATION', `month: must look like 2026-11, got ${JSON.stringify(month)}`, { field: 'month' });
  const s = await programmeSettings(ctx);
  const [from, to] = monthBounds(month, s.time_zone);
  if (to > ctx.now()) throw new AppError('VALIDATION', `month: ${month} has not ended yet (in ${s.time_zone}); a month is settled once it is over`, { field: 'month' });
  const minSpend = parseUsd(s.moderation.min_monthly_spend, { allowZero: true });
  const run: ModerationRun = { month, settlements: [], below_threshold: [] };
  for (const [model, policy] of Object.entries(s.moderation.models).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const rows = await ctx.db.all(
      "SELECT id, account_id, amount FROM request_log WHERE model = ? AND started_at >= ? AND started_at < ? AND ended_at >= ? AND ended_at < ? AND outcome = 'upstream_moderation' AND amount > 0 AND account_id IS NOT NULL ORDER BY account_id, id",
      [model, from - 86_400_000, to, from, to],
    );
    const byAccount = new Map<string, Row[]>();
    for (const r of rows) byAccount.set(str(r.account_id), [...(byAccount.get(str(r.account_id)) ?? []), r]);
    for (const [accountId, refusals] of byAccount) {
      const got = await spend(ctx.db, accountId, from, to, null);
      if (got < minSpend) {
        run.below_threshold.push({ account_id: accountId, model, requests: refusals.length, spend: got });
        continue;
      }
      const stakes = Object.fromEntries(refusals.map((r) => [str(r.id), itemAmount(policy, big(r.amount))]));
      run.settlements.push(await settleOne(ctx, accountId, model, month, stakes));
    }
  }
  return run;
}

async function settleOne(ctx: ServiceContext, accountId: string, model: string, month: string, stakes: Record<string, bigint>): Promise<{ settlement: Settlement; replayed: boolean }> {
  const id = settlementId(accountId, model, month);
  const existing = await ctx.db.get('SELECT * FROM moderation_settlements WHERE id = ?', [id]);
  if (existing && str(existing.status) === 'paid') return { settlement: toSettlement(existing), replayed: true };
  const now = ctx.now();
  const claimed = await ctx.db.tx(async (q) => {
    await q.run('INSERT INTO moderation_settlements (id, account_id, model, month, status, requests, amount, created_by, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (id) DO NOTHING', [
      id, accountId, model, month, 'pending', ctx.actor.type === 'customer' ? 'customer' : `${ctx.actor.type}:${ctx.actor.id}`, now,
    ]);
    const c = await claim(q, ctx.db, accountId, `moderation:${id}`, stakes, now);
    const amount = [...c.values()].reduce((a, b) => a + b, 0n);
    await q.run('UPDATE moderation_settlements SET requests = ?, amount = ? WHERE id = ?', [Object.keys(stakes).length, amount, id]);
    return amount;
  });
  let creditId: string | null = null;
  if (claimed > 0n) {
    const memo = `Moderation reimbursement ${month} for ${model}: ${Object.keys(stakes).length} refused request(s) (settlement ${id})`;
    creditId = (await issueCredit(ctx, { accountId, kind: 'compensation', amount: claimed, refType: 'moderation_settlement', refId: id, memo }, `moderation:${id}`)).credit.id;
  }
  await ctx.db.tx(async (q) => {
    await q.run("UPDATE moderation_settlements SET status = 'paid', credit_id = ? WHERE id = ?", [creditId, id]);
    await audit(q, ctx.actor, 'moderation.settle', { type: 'moderation_settlement', id, accountId }, undefined, { month, model, amount: claimed, credit_id: creditId }, now);
  });
  return { settlement: toSettlement((await ctx.db.get('SELECT * FROM moderation_settlements WHERE id = ?', [id]))!), replayed: false };
}

export async function getSettlement(q: Queryable, id: string): Promise<Settlement | null> {
  const r = await q.get('SELECT * FROM moderation_settlements WHERE id = ?', [id]);
  return r ? toSettlement(r) : null;
}

export async function listSettlements(q: Queryable, f: { account_id?: string | undefined; month?: string | undefined }, limit: number): Promise<Settlement[]> {
  const w: string[] = [];
  const params: Array<string | number> = [];
  if (f.account_id) (w.push('account_id = ?'), params.push(f.account_id));
  if (f.month) (w.push('month = ?'), params.push(f.month));
  params.push(limit);
  return (await q.all(`SELECT * FROM moderation_settlements ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY month DESC, account_id, model LIMIT ?`, params)).map(toSettlement);
}
