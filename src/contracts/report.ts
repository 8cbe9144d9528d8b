import { formatUsd } from '../kernel/money.ts';
import { iso } from '../kernel/validation.ts';
import type { Queryable } from '../storage/port.ts';
import { segments, versionAt, type Contract, type Segment } from './contracts.ts';
import { countMinutes, daily, measure, type Measured } from './measure.ts';
import { percentOf, settle, tierFor, type Settlement } from './credit.ts';
import { maintenanceWindows, supportIncidents, supportOf, type IncidentSource, type MaintenanceView, type SupportView } from './support.ts';
import { EXCLUSION_REASONS, compileTerms, showPercent, type ExclusionReason } from './terms.ts';
import type { Window } from './periods.ts';

// One SLA report: a contract over a window (a closed or open period, or any from–to), measured
// segment by segment (one per version in force), with the credit it earns. `reportView` is what
// the APIs return and what a closed period stores as its snapshot; `RECOMPUTE` says how every
// figure follows from the exported intervals and the request log.

export interface SegmentResult {
  seg: Segment;
  m: Measured;
  tierCredit: bigint;
  tier: { below_micro: number; credit_micro: number } | null;
  support: SupportView[];
  supportCredit: bigint;
  maintenance: MaintenanceView[];
}

export interface Report {
  contract: Contract;
  period: string | null;
  window: Window;
  generatedAt: number;
  segments: SegmentResult[];
  availability: number | null;
  spend: bigint;
  settlement: Settlement;
  timeZone: string;
}

/** Measures a contract over a window: rollups, incidents and maintenance, tiers, support, cap. */
export async function buildReport(q: Queryable, incidents: IncidentSource, c: Contract, w: Window, period: string | null, now: number): Promise<Report> {
  const segs = segments(c, w);
  const all = await incidents.list(w.from, w.to);
  const results: SegmentResult[] = [];
  for (const seg of segs) {
    const cov = seg.compiled.terms.coverage;
    const maint = maintenanceWindows(all, seg.compiled, c.account_id);
    const counts = await countMinutes(q, seg.compiled, { accountId: c.account_id, models: cov.models, endpoints: cov.endpoints, keys: cov.keys, betaModels: seg.compiled.terms.exclusions.beta_models }, seg, maint.windows);
    const m = measure(counts, seg.compiled);
    const tier = tierFor(seg.compiled, m.availability);
    const tierCredit = tier ? percentOf(m.spend, tier.credit_micro) : 0n;
    const support = supportIncidents(all, seg.compiled, c.account_id, seg).map((i) => supportOf(i, seg.compiled, m.spend, Math.min(now, w.to)));
    const supportCredit = support.reduce((s, x) => s + x.breaches.reduce((b, y) => b + y.credit, 0n), 0n);
    results.push({ seg, m, tier, tierCredit, support, supportCredit, maintenance: maint.views });
  }
  const spend = results.reduce((s, r) => s + r.m.spend, 0n);
  const beforeCap = results.reduce((s, r) => s + r.tierCredit + r.supportCredit, 0n);
  const money = compileTerms(versionAt(c, w.to - 1).terms);
  // Several segments: the availability weighted by measured intervals (each segment's own rule).
  const measured = results.filter((r) => r.m.availability !== null);
  const weight = measured.reduce((s, r) => s + r.m.measuredIntervals * r.seg.compiled.intervalMinutes, 0);
  const availability = measured.length === 0 ? null : Math.round(measured.reduce((s, r) => s + r.m.availability! * r.m.measuredIntervals * r.seg.compiled.intervalMinutes, 0) / weight);
  return { contract: c, period, window: w, generatedAt: now, segments: results, availability, spend, settlement: settle(money, beforeCap, spend), timeZone: versionAt(c, w.to - 1).terms.time_zone };
}

export const RECOMPUTE = [
  'Every figure follows from the intervals export (sla-intervals, surety export format) and, below it, the request log:',
  '1. Classify each covered request of the window (the coverage: account, models, endpoints, keys) by the outcome table of its segment: good, failed, or excluded with a reason;',
  '   requests started in a minute of announced maintenance are excluded as maintenance, requests to beta models as beta_model, before their outcome is looked at.',
  '2. Request-based: per interval (aligned to the segment start), error rate = failed / (good + failed), 0 when nothing was eligible; availability = 100 % - the mean error rate of the measured intervals.',
  '   Time-based: a minute is down when it had at least min_requests eligible requests and failed / eligible >= threshold; availability = up minutes / measured minutes.',
  '   A minute wholly inside excluded maintenance is not measured. Availabilities are rounded half up to 0.000001 %.',
  '3. Credit base = covered spend (sum of covered_spend, beta models excluded). Tier = the lowest below_percent still above the availability; tier credit = base x credit_percent, rounded half up to 0.000000001 USD.',
  '4. Support: each breach of a target (first response, longest silence between public updates, resolution; measured from detection) earns its breach credit.',
  '5. Total before cap = tier credits + support credits; raised to the minimum credit when something is due; then limited by the cap (cap percent x the period\'s covered spend, and the cap amount): the cap wins.',
].join('\n');

const pct = (m: number | null) => (m === null ? null : showPercent(m, 4));
const pctExact = (m: number | null) => (m === null ? null : showPercent(m, 6));

function counts(m: Measured): Record<string, unknown> {
  return {
    eligible: m.eligible,
    failed: m.failed,
    by_outcome: m.byOutcome,
    by_exclusion: Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, m.byExclusion[r]])) as Record<ExclusionReason, number>,
  };
}

/** The report as the APIs show it (and as a closed period keeps it). `series` adds the intervals. */
export function reportView(r: Report, opts: { series?: boolean } = {}): Record<string, unknown> {
  const byOutcome: Record<string, number> = {};
  const byExclusion: Record<string, number> = Object.fromEntries(EXCLUSION_REASONS.map((x) => [x, 0]));
  for (const s of r.segments) {
    for (const [o, n] of Object.entries(s.m.byOutcome)) byOutcome[o] = (byOutcome[o] ?? 0) + n;
    for (const x of EXCLUSION_REASONS) byExclusion[x]! += s.m.byExclusion[x];
  }
  const last = versionAt(r.contract, r.window.to - 1).terms;
  return {
    contract_id: r.contract.id,
    account_id: r.contract.account_id,
    name: r.contract.name,
    period: r.period,
    time_zone: r.timeZone,
    window: { from: iso(r.window.from), to: iso(r.window.to) },
    generated_at: iso(r.generatedAt),
    availability: pct(r.availability),
    availability_exact: pctExact(r.availability),
    target: last.target_percent,
    target_met: r.availability === null ? null : r.availability >= compileTerms(last).targetMicro,
    counts: {
      eligible: r.segments.reduce((s, x) => s + x.m.eligible, 0),
      failed: r.segments.reduce((s, x) => s + x.m.failed, 0),
      by_outcome: byOutcome,
      by_exclusion: byExclusion,
    },
    segments: r.segments.map((s) => segmentView(s, opts.series === true)),
    daily: daily(r.segments.map((s) => ({ measured: s.m, timeBased: s.seg.compiled.thresholdMicro !== null })), r.timeZone).map((d) => ({ ...d, availability: pct(d.availability) })),
    incidents: r.segments.flatMap((s) => s.support.map((x) => ({ ...x, breaches: x.breaches.map((b) => ({ ...b, credit: formatUsd(b.credit) })) }))),
    maintenance: r.segments.flatMap((s) => s.maintenance),
    credit: {
      base: formatUsd(r.spend),
      tier_credits: formatUsd(r.segments.reduce((s, x) => s + x.tierCredit, 0n)),
      support_credits: formatUsd(r.segments.reduce((s, x) => s + x.supportCredit, 0n)),
      before_cap: formatUsd(r.settlement.before_cap),
      minimum: last.minimum_credit,
      minimum_applied: r.settlement.minimum_applied,
      cap: r.settlement.cap === null ? null : formatUsd(r.settlement.cap),
      cap_applied: r.settlement.cap_applied,
      total: formatUsd(r.settlement.total),
      claim_required: last.claims.required,
    },
    recompute: RECOMPUTE,
  };
}

function segmentView(s: SegmentResult, series: boolean): Record<string, unknown> {
  const t = s.seg.compiled.terms;
  return {
    version: s.seg.version,
    window: { from: iso(s.seg.from), to: iso(s.seg.to) },
    metric: t.metric,
    availability: pct(s.m.availability),
    availability_exact: pctExact(s.m.availability),
    intervals: s.m.intervals.length,
    intervals_measured: s.m.measuredIntervals,
    down_minutes: t.metric.type === 'time' ? s.m.downMinutes : undefined,
    outcome_table: s.seg.compiled.outcomes,
    counts: counts(s.m),
    covered_spend: formatUsd(s.m.spend),
    tier: s.tier ? { below_percent: showPercent(s.tier.below_micro), credit_percent: showPercent(s.tier.credit_micro) } : null,
    tier_credit: formatUsd(s.tierCredit),
    support_credit: formatUsd(s.supportCredit),
    ...(series
      ? {
          series: s.m.intervals.map((x) => ({ start: iso(x.start), minutes: x.minutes, measured: x.measured, eligible: x.eligible, failed: x.failed, excluded: x.excluded, error_rate: x.error, covered_spend: formatUsd(x.spend) })),
        }
      : {}),
  };
}
