import { z } from 'zod';
import { MAX_USD_NANOS, formatUsd, mulDivRound, parseDecimalRatio, parseUsd } from '../kernel/money.ts';

// The loss formula of an incident: how much each affected account is credited. Stored with the
// incident as given (decimal strings), evaluated per account from the preview's figures.
//
//   loss = round(charged × (100 + goodwill_pct) / 100) + failed_images × per_failed_image
//   then at least min_per_account (for an account with at least one affected request),
//   and at most the DESIGN's bound for one amount ($1e9).
//
// Worked example: an account charged $12.00 on affected requests, 3 failed image requests,
// goodwill 10 %, $0.05 per failed image, minimum $1.00:
//   round(12_000_000_000 × 110 / 100) = 13_200_000_000; + 3 × 50_000_000 = 13_350_000_000 → $13.35.
// Rounding happens once, on the account's total.

export const OUTCOME_PRESETS = ['charged', 'failed', 'all'] as const;
export type OutcomePreset = (typeof OUTCOME_PRESETS)[number];

const usd = z.string().refine((s) => {
  try {
    parseUsd(s, { allowZero: true });
    return true;
  } catch {
    return false;
  }
}, 'must be a USD decimal string like "0.05"');

const pct = z.string().refine((s) => {
  try {
    const r = parseDecimalRatio(s);
    return r.num <= 1000n * r.den;
  } catch {
    return false;
  }
}, 'must be a percentage between "0" and "1000", like "10" or "12.5"');

export const LossInput = z
  .object({
    /** Which requests count (the preview's filter): every charged one by default. */
    outcome: z.enum(OUTCOME_PRESETS).default('charged'),
    goodwill_pct: pct.default('0'),
    min_per_account: usd.default('0'),
    per_failed_image: usd.default('0'),
  })
  .strict();
export type LossFormula = z.output<typeof LossInput>;

export const DEFAULT_LOSS: LossFormula = { outcome: 'charged', goodwill_pct: '0', min_per_account: '0', per_failed_image: '0' };

/** The figures of one account's affected requests that the formula reads. */
export interface AccountFigures {
  requests: number;
  charged: bigint;
  failed_images: number;
}

export function lossFor(f: LossFormula, a: AccountFigures): bigint {
  if (a.requests === 0) return 0n;
  const g = parseDecimalRatio(f.goodwill_pct);
  // charged × (1 + pct/100) = charged × (100·den + num) / (100·den)
  let loss = mulDivRound(a.charged, 100n * g.den + g.num, 100n * g.den);
  loss += BigInt(a.failed_images) * parseUsd(f.per_failed_image, { allowZero: true });
  const min = parseUsd(f.min_per_account, { allowZero: true });
  if (loss < min) loss = min;
  return loss > MAX_USD_NANOS ? MAX_USD_NANOS : loss;
}

export function lossView(f: LossFormula): Record<string, string> {
  return { outcome: f.outcome, goodwill_pct: f.goodwill_pct, min_per_account: formatUsd(parseUsd(f.min_per_account, { allowZero: true })), per_failed_image: formatUsd(parseUsd(f.per_failed_image, { allowZero: true })) };
}
