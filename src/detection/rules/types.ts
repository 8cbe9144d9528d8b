// What a detection rule sees and what it says. A rule is a pure function: the rows (or holds) of a
// scan and a read-only context in, candidate findings out. It never reads storage, the clock or
// the network, so that it is tested with plain values (test/unit/detection/) and the scanner can
// run it over a million rows a second.
import type { Multiplier } from '../../billing/pricing.ts';
import type { CompiledPrice } from '../../catalog/price-book.ts';
import type { BillableUsage, Endpoint } from '../../providers/types.ts';
import type { Outcome } from '../../requests/outcomes.ts';

/** A charged request-log row, as the scanner reads it: the columns some rule reads (JSON columns parsed, money as bigint). */
export interface ScanRow {
  id: string;
  account_id: string | null;
  key_id: string | null;
  model: string | null;
  endpoint: string;
  started_at: number;
  first_byte_at: number | null;
  ended_at: number;
  duration_ms: number;
  stream: boolean;
  status: number;
  outcome: Outcome;
  usage_billable: BillableUsage | null;
  price_version: number | null;
  hold_amount: bigint;
  amount: bigint;
  delivered: Record<string, unknown> | null;
  client_ref: string | null;
  /** The upstream attempts as stored (JSON text, not parsed): each with its duration to the microsecond. */
  attempts: string | null;
}

/** A hold of the holds table (billing/holds.ts), as the stale-hold rule reads it. */
export interface HoldFacts {
  id: string;
  account_id: string;
  amount: bigint;
  posted: bigint;
  status: string;
  created_at: number;
  expires_at: number;
  settled_at: number | null;
}

/** What a model is, for the rules: its kind, its limits, its abnormal-timeout threshold. */
export interface ModelFacts {
  kind: Endpoint;
  /** The model's output limit (its default_max_output_tokens), when set. */
  max_output_tokens: number | null;
  /** Charged requests longer than this are abnormal; null: no threshold for this model. */
  abnormal_timeout_ms: number | null;
}

export interface RuleContext {
  /** A model's facts, or null for a model the catalog no longer knows. */
  model(id: string): ModelFacts | null;
  /** The price a row was priced with: (model, price version), from the price book. */
  price(model: string, version: number): CompiledPrice | null;
  /** The group multiplier of an account (one when its group has none). */
  multiplier(accountId: string): Multiplier;
  /** Grace for holds past their TTL before they are stale, ms. */
  staleHoldGraceMs: number;
  /** When the scan runs (for holds only: rows carry their own times). */
  now: number;
}

/** What a rule found: a charge that should not have happened, with its evidence. */
export interface Candidate {
  rule: string;
  /** What the finding is about (a request id, a hold id): with the rule, its identity. */
  subject: string;
  account_id: string | null;
  model: string | null;
  /** The requests involved: the wrongly charged one first, then any it is compared with. */
  request_ids: string[];
  /** What was charged on the subject. */
  charged: bigint;
  /** What compensation would pay, per request (the amount at stake), nano-USD. */
  stakes: Record<string, bigint>;
  /** The rule's reasoning, in one sentence. */
  reason: string;
  /** The facts the reasoning rests on (customer-safe: no channels, no upstream texts). */
  evidence: Record<string, unknown>;
  /** When the wrong charge happened. */
  occurred_at: number;
}

export interface RowRule {
  name: string;
  /** One line for the README and the settings view. */
  description: string;
  on: 'rows';
  check(rows: readonly ScanRow[], ctx: RuleContext): Candidate[];
}

export interface HoldRule {
  name: string;
  description: string;
  on: 'holds';
  check(holds: readonly HoldFacts[], ctx: RuleContext): Candidate[];
}

export type Rule = RowRule | HoldRule;

/** A candidate about one charged row, paid back in full. */
export function wholeCharge(rule: string, r: ScanRow, reason: string, evidence: Record<string, unknown>): Candidate {
  return {
    rule,
    subject: r.id,
    account_id: r.account_id,
    model: r.model,
    request_ids: [r.id],
    charged: r.amount,
    stakes: { [r.id]: r.amount },
    reason,
    evidence: { request_id: r.id, outcome: r.outcome, amount: r.amount, ...evidence },
    occurred_at: r.ended_at,
  };
}
