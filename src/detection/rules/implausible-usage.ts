import { priceUsage } from '../../billing/pricing.ts';
import { formatUsd } from '../../kernel/money.ts';
import type { Candidate, RowRule } from './types.ts';

/**
 * Usage that cannot be right: a charge above the request's hold (the worst case its max_tokens,
 * or the model's default, allowed: so output above max_tokens), output tokens above the model's
 * output limit, or a stream whose reported usage moved backwards (marked by the stream parser as
 * `delivered.usage_regressed`). The amount at stake is what the charge is above the hold, or the
 * price of the tokens above the limit; a regressed usage alone is shown for an operator to judge.
 */
export const implausibleUsage: RowRule = {
  name: 'implausible_usage',
  description: "output above max_tokens (a charge above the request's hold) or above the model's limit, or usage that moved backwards in a stream",
  on: 'rows',
  check(rows, ctx) {
    const out: Candidate[] = [];
    for (const r of rows) {
      if (r.amount <= 0n) continue;
      const reasons: string[] = [];
      let stake = 0n;
      if (r.hold_amount > 0n && r.amount > r.hold_amount) {
        reasons.push(`the charge of $${formatUsd(r.amount)} is above the hold of $${formatUsd(r.hold_amount)} that max_tokens allowed`);
        stake = r.amount - r.hold_amount;
      }
      const facts = r.model === null ? null : ctx.model(r.model);
      const output = r.usage_billable?.output_tokens ?? 0;
      if (facts?.max_output_tokens && output > facts.max_output_tokens && r.usage_billable && r.model !== null && r.price_version !== null) {
        reasons.push(`${output} output tokens are above the model's limit of ${facts.max_output_tokens}`);
        const price = ctx.price(r.model, r.price_version);
        if (price && r.account_id !== null) {
          const capped = priceUsage(price, { ...r.usage_billable, output_tokens: facts.max_output_tokens }, ctx.multiplier(r.account_id));
          if (r.amount - capped > stake) stake = r.amount - capped;
        }
      }
      if (r.delivered?.usage_regressed === true) reasons.push('the usage reported in the stream moved backwards');
      if (reasons.length === 0) continue;
      out.push({
        rule: this.name,
        subject: r.id,
        account_id: r.account_id,
        model: r.model,
        request_ids: [r.id],
        charged: r.amount,
        stakes: stake > 0n ? { [r.id]: stake } : {},
        reason: `Implausible usage: ${reasons.join('; ')}.`,
        evidence: { request_id: r.id, amount: r.amount, hold: r.hold_amount, output_tokens: output, model_limit: facts?.max_output_tokens ?? null, usage_regressed: r.delivered?.usage_regressed === true },
        occurred_at: r.ended_at,
      });
    }
    return out;
  },
};
