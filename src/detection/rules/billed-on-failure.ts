import { formatUsd } from '../../kernel/money.ts';
import { OUTCOMES, mayBill } from '../../requests/outcomes.ts';
import { wholeCharge, type Candidate, type RowRule } from './types.ts';

/** A charge on an outcome that the outcome table says is never billed (DESIGN "Outcomes"). */
export const billedOnFailure: RowRule = {
  name: 'billed_on_failure',
  description: 'charged on an outcome that is never billed (errors, timeouts, refusals before the upstream, platform faults)',
  on: 'rows',
  check(rows) {
    const out: Candidate[] = [];
    for (const r of rows) {
      if (r.amount <= 0n || mayBill(r.outcome)) continue;
      out.push(
        wholeCharge(
          this.name,
          r,
          `Charged $${formatUsd(r.amount)} on outcome ${r.outcome}, which is never billed (${OUTCOMES[r.outcome].meaning.replace(/\.$/, '')}).`,
          { status: r.status },
        ),
      );
    }
    return out;
  },
};
