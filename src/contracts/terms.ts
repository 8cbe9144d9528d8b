import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { MAX_USD_NANOS, parseUsd } from '../kernel/money.ts';
import { isoTime } from '../kernel/validation.ts';
import { OUTCOMES, OUTCOME_NAMES, type Outcome } from '../requests/outcomes.ts';

// The terms of an SLA contract, as operators write them (snake_case JSON, percentages and amounts
// as decimal strings) and as one version stores them. `compileTerms` turns stored terms into the
// numbers the measurement uses: percentages in micro-percent (1 = 0.000001 %, so "99.9" is
// 99_900_000) and amounts in nano-USD, both exact integers; nothing here is a float.

/** A percentage "0".."100" with at most 4 decimals, as micro-percent. */
const percent = z
  .string()
  .regex(/^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$/, 'must be a percentage from "0" to "100" with at most 4 decimals, like "99.9"');
const usd = z.string().refine((s) => {
  try {
    return parseUsd(s, { allowZero: true }) <= MAX_USD_NANOS;
  } catch {
    return false;
  }
}, 'must be a USD decimal string like "12.50"');
const names = z.array(z.string().trim().min(1).max(200)).max(1000);

export const MICRO_PER_PERCENT = 1_000_000;
export const FULL = 100 * MICRO_PER_PERCENT;

export function micro(p: string): number {
  const [whole, frac = ''] = p.split('.');
  return Number(whole) * MICRO_PER_PERCENT + Number(frac.padEnd(6, '0'));
}

/** micro-percent as a decimal string with 4 decimals ("99.9500"). */
export function showPercent(m: number, decimals = 4): string {
  return (m / MICRO_PER_PERCENT).toFixed(decimals);
}

const SupportTerm = z
  .object({
    first_response_minutes: z.number().int().min(1).max(525_600).optional(),
    update_interval_minutes: z.number().int().min(1).max(525_600).optional(),
    resolution_minutes: z.number().int().min(1).max(525_600).optional(),
    breach_credit: usd.optional(),
    breach_credit_percent: percent.optional(),
  })
  .strict();

export const SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'] as const;
export type Severity = (typeof SEVERITIES)[number];

const TimeZone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone like "Europe/Berlin" or "UTC"');

const Metric = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), interval_minutes: z.union([z.literal(1), z.literal(5), z.literal(10), z.literal(15), z.literal(30), z.literal(60)]).default(5) }).strict(),
  z.object({ type: z.literal('time'), threshold_percent: percent, min_requests: z.number().int().min(1).max(1_000_000) }).strict(),
]);

/** Every term, as stored in a version (defaults filled in). */
export const TermsSchema = z
  .object({
    time_zone: TimeZone.default('UTC'),
    term: z.object({ start: z.string(), end: z.string().nullable().default(null) }).strict(),
    coverage: z
      .object({ models: names.nullable().default(null), endpoints: names.nullable().default(null), keys: names.nullable().default(null), upstreams: z.boolean().default(false) })
      .strict()
      .default({ models: null, endpoints: null, keys: null, upstreams: false }),
    metric: Metric.default({ type: 'request', interval_minutes: 5 }),
    failure_outcomes: z.array(z.enum(OUTCOME_NAMES)).min(1).max(20).nullable().default(null),
    exclusions: z
      .object({
        client_faults: z.boolean().default(true),
        moderation: z.boolean().default(true),
        rate_limits: z.boolean().default(true),
        maintenance_notice_hours: z.number().min(0).max(8760).nullable().default(72),
        beta_models: names.default([]),
      })
      .strict()
      .default({ client_faults: true, moderation: true, rate_limits: true, maintenance_notice_hours: 72, beta_models: [] }),
    target_percent: percent,
    credit_tiers: z.array(z.object({ below_percent: percent, credit_percent: percent }).strict()).max(20).default([]),
    cap: z.object({ percent: percent.nullable().default(null), amount: usd.nullable().default(null) }).strict().default({ percent: '100', amount: null }),
    minimum_credit: usd.nullable().default(null),
    claims: z.object({ required: z.boolean().default(false), deadline_days: z.number().int().min(1).max(365).default(30) }).strict().default({ required: false, deadline_days: 30 }),
    support: z.partialRecord(z.enum(SEVERITIES), SupportTerm).default({}),
  })
  .strict()
  .superRefine((t, ctx) => {
    for (const f of ['start', 'end'] as const) {
      const v = t.term[f];
      if (v !== null && !isoTime.safeParse(v).success) ctx.addIssue({ code: 'custom', path: ['term', f], message: 'must be an ISO 8601 time like "2026-01-01T00:00:00Z"' });
    }
    if (t.term.end !== null && Date.parse(t.term.end) <= Date.parse(t.term.start)) ctx.addIssue({ code: 'custom', path: ['term', 'end'], message: 'must be after term.start' });
    const seen = new Set<string>();
    t.credit_tiers.forEach((tier, i) => {
      if (seen.has(String(micro(tier.below_percent)))) ctx.addIssue({ code: 'custom', path: ['credit_tiers', i, 'below_percent'], message: 'appears twice' });
      seen.add(String(micro(tier.below_percent)));
    });
    const sorted = [...t.credit_tiers].sort((a, b) => micro(b.below_percent) - micro(a.below_percent));
    for (let i = 1; i < sorted.length; i++) {
      if (micro(sorted[i]!.credit_percent) < micro(sorted[i - 1]!.credit_percent)) {
        ctx.addIssue({ code: 'custom', path: ['credit_tiers'], message: 'a lower availability must not earn a smaller credit' });
      }
    }
    const fails = new Set(failureOutcomes(t));
    for (const [o, reason] of Object.entries(outcomeExclusions(t))) {
      if (fails.has(o as Outcome)) ctx.addIssue({ code: 'custom', path: ['failure_outcomes'], message: `${o} is both a failure and excluded (${reason}); turn the exclusion off to count it` });
    }
  });
export type Terms = z.output<typeof TermsSchema>;
export type TermsInput = z.input<typeof TermsSchema>;

/** Parses terms (a new contract, or a version's merged amendment) into their stored form. */
export function parseTerms(raw: unknown, root = 'terms'): Terms {
  const r = TermsSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = [root, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    const key = (issue as { keys: string[] }).keys[0];
    throw new AppError('VALIDATION', `${field}.${key}: unknown field`, { field: `${field}.${key}` });
  }
  throw new AppError('VALIDATION', `${field}: ${/received undefined/.test(issue.message) ? 'is required' : issue.message}`, { field });
}

// ---- how each outcome counts ----

export const CLIENT_FAULTS: readonly Outcome[] = OUTCOME_NAMES.filter((o) => OUTCOMES[o].fault === 'client');
const UPSTREAM_FAILURES: readonly Outcome[] = ['upstream_error', 'upstream_timeout'];

/** Which outcomes are failures: as listed, else `platform_error`, plus upstream failures when upstreams are covered. */
export function failureOutcomes(t: Pick<Terms, 'failure_outcomes' | 'coverage' | 'exclusions'>): Outcome[] {
  if (t.failure_outcomes) return [...t.failure_outcomes];
  const out: Outcome[] = ['platform_error'];
  if (t.coverage.upstreams) out.push(...UPSTREAM_FAILURES, ...(t.exclusions.rate_limits ? [] : (['upstream_rate_limited'] as Outcome[])));
  return out;
}

export const EXCLUSION_REASONS = ['maintenance', 'beta_model', 'client_fault', 'moderation', 'rate_limit', 'upstream_not_covered'] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

/** Outcomes excluded by the contract's exclusions, with the reason. */
function outcomeExclusions(t: Pick<Terms, 'failure_outcomes' | 'coverage' | 'exclusions'>): Partial<Record<Outcome, ExclusionReason>> {
  const out: Partial<Record<Outcome, ExclusionReason>> = {};
  if (t.exclusions.client_faults) for (const o of CLIENT_FAULTS) out[o] = 'client_fault';
  if (t.exclusions.moderation) out.upstream_moderation = 'moderation';
  if (t.exclusions.rate_limits) out.upstream_rate_limited = 'rate_limit';
  return out;
}

export type OutcomeClass = 'good' | 'failed' | ExclusionReason;

/**
 * How every outcome counts under these terms: a failure (listed), excluded (by an exclusion, or an
 * upstream failure the contract does not cover), or good (everything else that was answered).
 * The report prints this table, so a customer can classify an exported row the same way.
 */
export function outcomeTable(t: Terms): Record<Outcome, OutcomeClass> {
  const fails = new Set(failureOutcomes(t));
  const excl = outcomeExclusions(t);
  const table = {} as Record<Outcome, OutcomeClass>;
  for (const o of OUTCOME_NAMES) {
    if (fails.has(o)) table[o] = 'failed';
    else if (excl[o]) table[o] = excl[o]!;
    else if (OUTCOMES[o].fault === 'upstream' && o !== 'upstream_moderation' && !t.coverage.upstreams) table[o] = 'upstream_not_covered';
    else table[o] = 'good';
  }
  return table;
}

// ---- compiled: exact numbers for the measurement ----

export interface SupportRule {
  firstResponseMs: number | null;
  updateIntervalMs: number | null;
  resolutionMs: number | null;
  breachCredit: bigint;
  breachCreditMicro: number;
}

export interface Compiled {
  terms: Terms;
  outcomes: Record<Outcome, OutcomeClass>;
  targetMicro: number;
  tiers: Array<{ belowMicro: number; creditMicro: number }>;
  capMicro: number | null;
  capAmount: bigint | null;
  minimum: bigint | null;
  thresholdMicro: number | null;
  minRequests: number;
  intervalMinutes: number;
  support: Partial<Record<Severity, SupportRule>>;
  termStart: number;
  termEnd: number | null;
}

const amount = (s: string | null | undefined) => (s === null || s === undefined ? null : parseUsd(s, { allowZero: true }));
const minutes = (m: number | undefined) => (m === undefined ? null : m * 60_000);

export function compileTerms(t: Terms): Compiled {
  const support: Partial<Record<Severity, SupportRule>> = {};
  for (const sev of SEVERITIES) {
    const s = t.support[sev];
    if (!s) continue;
    support[sev] = {
      firstResponseMs: minutes(s.first_response_minutes),
      updateIntervalMs: minutes(s.update_interval_minutes),
      resolutionMs: minutes(s.resolution_minutes),
      breachCredit: amount(s.breach_credit) ?? 0n,
      breachCreditMicro: s.breach_credit_percent ? micro(s.breach_credit_percent) : 0,
    };
  }
  return {
    terms: t,
    outcomes: outcomeTable(t),
    targetMicro: micro(t.target_percent),
    tiers: t.credit_tiers.map((x) => ({ belowMicro: micro(x.below_percent), creditMicro: micro(x.credit_percent) })).sort((a, b) => a.belowMicro - b.belowMicro),
    capMicro: t.cap.percent === null ? null : micro(t.cap.percent),
    capAmount: amount(t.cap.amount),
    minimum: amount(t.minimum_credit),
    thresholdMicro: t.metric.type === 'time' ? micro(t.metric.threshold_percent) : null,
    minRequests: t.metric.type === 'time' ? t.metric.min_requests : 0,
    intervalMinutes: t.metric.type === 'request' ? t.metric.interval_minutes : 1,
    support,
    termStart: Date.parse(t.term.start),
    termEnd: t.term.end === null ? null : Date.parse(t.term.end),
  };
}
