import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { formatUsd } from '../kernel/money.ts';
import { parseInput } from '../kernel/validation.ts';
import { balanceView, getBalance } from '../accounts/accounts.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { big, type Db } from '../storage/port.ts';
import type { RouteTable } from '../http/routes.ts';
import { DAY_MS, dailyByModel, dayStarts, outcomeCounts, usageTable } from './usage.ts';

// The two summary pages: a customer's overview (balance, spend today and this month, spend per day
// by model, top keys, a low-balance warning) and the operator's dashboard (traffic, errors by
// outcome, revenue per day). Both read the request log through usage.ts.

/**
 * Low balance: what is available would last less than LOW_BALANCE_DAYS at the average daily spend
 * of the last 7 days — or is below LOW_BALANCE_FLOOR (in nano-USD) whatever the spend.
 */
export const LOW_BALANCE_DAYS = 3n;
export const LOW_BALANCE_FLOOR = 1_000_000_000n;

export function isLowBalance(available: bigint, spentLast7Days: bigint): boolean {
  return available < LOW_BALANCE_FLOOR || available * 7n < spentLast7Days * LOW_BALANCE_DAYS;
}

const SummaryQuery = z.object({ tz_offset_minutes: z.coerce.number().int().min(-840).max(840).optional(), days: z.coerce.number().int().min(1).max(90).optional() }).strict();

async function spendSince(db: Db, accountId: string, from: number): Promise<{ spend: bigint; requests: number }> {
  const r = await db.get('SELECT COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS spend FROM request_log WHERE account_id = ? AND started_at >= ?', [accountId, from]);
  return { spend: big(r?.spend ?? 0), requests: Number(r?.n ?? 0) };
}

async function topKeys(db: Db, accountId: string, from: number): Promise<Array<Record<string, unknown>>> {
  const rows = await db.all(
    `SELECT l.key_id, k.name, k.prefix, k.status, COUNT(*) AS n, CAST(SUM(l.amount) AS BIGINT) AS spend FROM request_log l LEFT JOIN api_keys k ON k.id = l.key_id
      WHERE l.account_id = ? AND l.started_at >= ? GROUP BY l.key_id, k.name, k.prefix, k.status ORDER BY spend DESC, n DESC LIMIT 5`,
    [accountId, from],
  );
  return rows.map((r) => ({ key_id: (r.key_id as string | null) ?? null, name: (r.name as string | null) ?? null, prefix: (r.prefix as string | null) ?? null, status: (r.status as string | null) ?? null, requests: Number(r.n), spend: formatUsd(big(r.spend ?? 0)) }));
}

export function registerInsightRoutes(t: RouteTable, rt: Runtime): void {
  t.add({ method: 'GET', url: '/account/v1/overview', auth: 'customer', tag: 'account', summary: 'Overview: balance, spend today and this month, spend per day by model, top keys, low-balance warning', query: SummaryQuery }, async (c) => {
    if (c.actor.type !== 'customer') throw new AppError('FORBIDDEN');
    const accountId = c.actor.accountId;
    requireRole(c.actor, accountId, 'viewer');
    const q = parseInput(SummaryQuery, c.query, 'query');
    const off = q.tz_offset_minutes ?? 0;
    const now = rt.now();
    const { today, month } = dayStarts(now, off);
    const days = q.days ?? 30;
    const balance = await getBalance(withActor(rt, c.actor), accountId);
    const [t0, m0, w7] = [await spendSince(rt.db, accountId, today), await spendSince(rt.db, accountId, month), await spendSince(rt.db, accountId, now - 7 * DAY_MS)];
    return {
      balance: balanceView(balance),
      spend_today: formatUsd(t0.spend),
      requests_today: t0.requests,
      spend_month: formatUsd(m0.spend),
      requests_month: m0.requests,
      daily: await dailyByModel(rt.db, accountId, today - (days - 1) * DAY_MS, off),
      top_keys: await topKeys(rt.db, accountId, month),
      low_balance: isLowBalance(balance.available, w7.spend),
    };
  });
  t.add({ method: 'GET', url: '/admin/v1/dashboard', auth: 'operator', tag: 'admin', summary: 'Dashboard: traffic and revenue per day, requests by outcome (?days=14)', query: SummaryQuery }, async (c) => {
    const q = parseInput(SummaryQuery, c.query, 'query');
    const off = q.tz_offset_minutes ?? 0;
    const now = rt.now();
    const { today } = dayStarts(now, off);
    const from = today - ((q.days ?? 14) - 1) * DAY_MS;
    const daily = await usageTable(rt.db, { from, group_by: 'day', tz_offset_minutes: off });
    const accounts = await rt.db.get("SELECT COUNT(*) AS n FROM accounts WHERE status = 'active'");
    return { from: new Date(from).toISOString(), daily, outcomes: await outcomeCounts(rt.db, from), active_accounts: Number(accounts?.n ?? 0), as_of: new Date(now).toISOString() };
  });
}
