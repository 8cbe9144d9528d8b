import { mulDivRound } from '../kernel/money.ts';
import { FULL, type Compiled } from './terms.ts';

// The money of a period, computed once and exactly (integers of nano-USD):
//   tier credit     = credit base × the tier's percentage, rounded half up to the nano-USD
//                     (the tier reached: the lowest `below_percent` still above the availability);
//   support credits = per breach, its fixed amount + its percentage of the credit base;
//   before cap      = tier credits + support credits (each part under the version in force);
//   minimum         = when anything is due and it is less than the minimum credit, the minimum;
//   cap             = the smaller of (cap percent × the period's covered spend) and the cap amount;
//                     the credit is min(after minimum, cap): the cap always wins.
// Worked example: base $20,000.00, availability 98.7 %, tiers 99.9→10 / 99→25 / 95→100: the
// 99 % tier is reached (98.7 < 99, not < 95), so 25 % × $20,000 = $5,000.00; with a cap of 20 %
// ($4,000.00) and $3,000.00 absolute, the credit is $3,000.00.

export interface Tier {
  below_micro: number;
  credit_micro: number;
}

/** The tier an availability reaches (none when it is not below any tier). */
export function tierFor(c: Compiled, availability: number | null): Tier | null {
  if (availability === null) return null;
  for (const t of c.tiers) if (availability < t.belowMicro) return { below_micro: t.belowMicro, credit_micro: t.creditMicro };
  return null;
}

/** base × micro-percent, rounded half up to the nano-USD. */
export const percentOf = (base: bigint, microPercent: number): bigint => (microPercent === 0 ? 0n : mulDivRound(base, BigInt(microPercent), BigInt(FULL)));

export interface Settlement {
  before_cap: bigint;
  minimum_applied: boolean;
  cap: bigint | null;
  cap_applied: boolean;
  total: bigint;
}

/** Minimum, then cap, with the money terms of the version in force at the period's end. */
export function settle(c: Compiled, beforeCap: bigint, coveredSpend: bigint): Settlement {
  let total = beforeCap;
  let minimumApplied = false;
  if (total > 0n && c.minimum !== null && total < c.minimum) {
    total = c.minimum;
    minimumApplied = true;
  }
  let cap: bigint | null = null;
  if (c.capMicro !== null) cap = percentOf(coveredSpend, c.capMicro);
  if (c.capAmount !== null) cap = cap === null ? c.capAmount : cap < c.capAmount ? cap : c.capAmount;
  const capApplied = cap !== null && total > cap;
  if (capApplied) total = cap!;
  return { before_cap: beforeCap, minimum_applied: minimumApplied, cap, cap_applied: capApplied, total };
}
