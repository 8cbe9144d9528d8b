import type { Dataset } from '../kernel/export.ts';
import { formatUsd } from '../kernel/money.ts';
import { iso } from '../kernel/validation.ts';
import { EXCLUSION_REASONS, type ExclusionReason } from './terms.ts';
import type { SegmentResult } from './report.ts';

// The interval-level data of a report, in two forms: compact (columns as arrays: what a closed
// period's snapshot keeps, so its export never changes) and as rows of the `sla-intervals`
// dataset of the uniform export (kernel/export.ts), from which a customer recomputes every figure.

export interface CompactSeries {
  version: number;
  metric: 'request' | 'time';
  from: number;
  to: number;
  step_minutes: number;
  measured: number[];
  eligible: number[];
  failed: number[];
  /** Time-based: 1 for a down minute. Request-based: failed ÷ eligible follows from the counts. */
  down: number[];
  excluded: Record<ExclusionReason, number[]>;
  /** Covered spend per interval in nano-USD, as decimal strings. */
  spend: string[];
}

export function compactSeries(s: SegmentResult): CompactSeries {
  const xs = s.m.intervals;
  const timeBased = s.seg.compiled.thresholdMicro !== null;
  return {
    version: s.seg.version,
    metric: timeBased ? 'time' : 'request',
    from: s.seg.from,
    to: s.seg.to,
    step_minutes: s.seg.compiled.intervalMinutes,
    measured: xs.map((x) => (x.measured ? 1 : 0)),
    eligible: xs.map((x) => x.eligible),
    failed: xs.map((x) => x.failed),
    down: timeBased ? xs.map((x) => x.error) : [],
    excluded: Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, xs.map((x) => x.excludedBy[r])])) as Record<ExclusionReason, number[]>,
    spend: xs.map((x) => x.spend.toString()),
  };
}

export const SLA_INTERVALS_VERSION = 1;
export const SLA_INTERVALS: Dataset = {
  name: 'sla-intervals',
  version: SLA_INTERVALS_VERSION,
  columns: [
    'contract_id', 'account_id', 'version', 'metric', 'interval_start', 'interval_end', 'measured', 'eligible', 'failed', 'error_rate', 'down',
    ...EXCLUSION_REASONS.map((r) => `excluded_${r}`), 'covered_spend',
  ],
  accountColumn: 'account_id',
  amountColumns: ['covered_spend'],
};

/** The export rows of a report's (or a snapshot's) series. error_rate has 9 decimals; sums use the counts. */
export function* intervalRows(contractId: string, accountId: string, series: readonly CompactSeries[]): Generator<Record<string, unknown>> {
  for (const s of series) {
    const step = s.step_minutes * 60_000;
    for (let i = 0; i < s.eligible.length; i++) {
      const start = s.from + i * step;
      const eligible = s.eligible[i]!;
      const failed = s.failed[i]!;
      const row: Record<string, unknown> = {
        contract_id: contractId,
        account_id: accountId,
        version: s.version,
        metric: s.metric,
        interval_start: iso(start),
        interval_end: iso(Math.min(s.to, start + step)),
        measured: s.measured[i] === 1,
        eligible,
        failed,
        error_rate: eligible === 0 ? '0' : (failed / eligible).toFixed(9),
        down: s.metric === 'time' ? s.down[i] === 1 : null,
        covered_spend: formatUsd(BigInt(s.spend[i]!)),
      };
      for (const r of EXCLUSION_REASONS) row[`excluded_${r}`] = s.excluded[r][i];
      yield row;
    }
  }
}

export async function* asAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  for (const x of it) yield x;
}
