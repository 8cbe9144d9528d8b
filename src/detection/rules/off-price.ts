import { priceUsage } from '../../billing/pricing.ts';
import { formatUsd } from '../../kernel/money.ts';
import type { Candidate, RowRule } from './types.ts';

/**
 * A charge above its billable usage priced at the row's price-book version and the account's
 * group multiplier (rounded once, billing/pricing.ts). Only overcharges are findings: what the
 * customer paid too much is what compensation pays back. The multiplier is the account group's
 * current one (rows do not record it), so a group change makes older rows look off: verify those.
 */
export const offPrice: RowRule = {
  name: 'off_price',
  description: "the amount differs from billable usage × the row's price-book version (group multiplier included)",
  on: 'rows',
  check(rows, ctx) {
    const out: Candidate[] = [];
    for (const r of rows) {
      if (r.amount <= 0n || r.model === null || r.usage_billable === null || r.account_id === null) continue;
      const price = r.price_version === null ? null : ctx.price(r.model, r.price_version);
      let expected: bigint;
      let why: string;
      if (price === null) {
        expected = 0n;
        why = `no price-book version ${r.price_version ?? '(none)'} of ${r.model} exists`;
      } else {
        try {
          expected = priceUsage(price, r.usage_billable, ctx.multiplier(r.account_id));
        } catch {
          continue;
        }
        why = `its billable usage at ${r.model} price version ${r.price_version} costs $${formatUsd(expected)}`;
      }
      if (r.amount <= expected) continue;
      out.push({
        rule: this.name,
        subject: r.id,
        account_id: r.account_id,
        model: r.model,
        request_ids: [r.id],
        charged: r.amount,
        stakes: { [r.id]: r.amount - expected },
        reason: `Charged $${formatUsd(r.amount)} but ${why}: $${formatUsd(r.amount - expected)} too much.`,
        evidence: { request_id: r.id, amount: r.amount, expected, price_version: r.price_version, usage_billable: r.usage_billable },
        occurred_at: r.ended_at,
      });
    }
    return out;
  },
};
