import { formatUsd } from '../../kernel/money.ts';
import { wholeCharge, type Candidate, type RowRule } from './types.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;

/**
 * A charge for a request that ran longer than its model's abnormal-timeout threshold (300 s for
 * image models by default): the customer's client has long given up; the platform should have.
 */
export const billedAfterTimeout: RowRule = {
  name: 'billed_after_timeout',
  description: "charged although the request took longer than the model's abnormal-timeout threshold (default 300 s for image models)",
  on: 'rows',
  check(rows, ctx) {
    const out: Candidate[] = [];
    for (const r of rows) {
      if (r.amount <= 0n || r.model === null) continue;
      const limit = ctx.model(r.model)?.abnormal_timeout_ms ?? null;
      if (limit === null || r.duration_ms <= limit) continue;
      out.push(
        wholeCharge(
          this.name,
          r,
          `Charged $${formatUsd(r.amount)} for a request that took ${seconds(r.duration_ms)}, longer than the abnormal-timeout threshold of ${seconds(limit)} for ${r.model}.`,
          { duration_ms: r.duration_ms, threshold_ms: limit },
        ),
      );
    }
    return out;
  },
};
