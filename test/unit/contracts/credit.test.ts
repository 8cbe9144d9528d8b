// SLA money rules (contracts/credit.ts, contracts/terms.ts) by hand: every tier, the cap as a
// percentage and as an amount, the minimum, the outcome table, and terms that are refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { percentOf, settle, tierFor } from '../../../src/contracts/credit.ts';
import { compileTerms, micro, outcomeTable, parseTerms } from '../../../src/contracts/terms.ts';
import { periodOf, periodWindow, zonedTime } from '../../../src/contracts/periods.ts';
import { measure, type MinuteCounts } from '../../../src/contracts/measure.ts';
import { SLA_INTERVALS } from '../../../src/contracts/intervals.ts';
import { EXCLUSION_REASONS } from '../../../src/contracts/terms.ts';
import { AppError } from '../../../src/kernel/errors.ts';
import { parseUsd } from '../../../src/kernel/money.ts';

const usd = (s: string) => parseUsd(s, { allowZero: true });
const base = { term: { start: '2026-01-01T00:00:00Z' }, target_percent: '99.9' };
const tiers = [
  { below_percent: '99.9', credit_percent: '10' },
  { below_percent: '99', credit_percent: '25' },
  { below_percent: '95', credit_percent: '100' },
];

describe('SLA credit rules', () => {
  test('each tier: the lowest threshold still above the availability; at the threshold is not below it', () => {
    const c = compileTerms(parseTerms({ ...base, credit_tiers: tiers }));
    const tier = (p: string) => tierFor(c, micro(p))?.credit_micro ?? 0;
    assert.equal(tier('100'), 0);
    assert.equal(tier('99.9'), 0);
    assert.equal(tier('99.8999'), micro('10'));
    assert.equal(tier('99'), micro('10'));
    assert.equal(tier('98.9999'), micro('25'));
    assert.equal(tier('95'), micro('25'));
    assert.equal(tier('94.5'), micro('100'));
    assert.equal(tier('0'), micro('100'));
    assert.equal(tierFor(c, null), null);
  });

  test('percentages of the base are exact and rounded half up once', () => {
    assert.equal(percentOf(usd('20000'), micro('25')), usd('5000'));
    assert.equal(percentOf(usd('11'), micro('10')), usd('1.1'));
    // 3 nano-USD × 50 % = 1.5 → 2
    assert.equal(percentOf(3n, micro('50')), 2n);
    assert.equal(percentOf(usd('1'), micro('0.0001')), 1000n);
  });

  test('cap as a percentage, as an amount (the smaller wins), the minimum, and the cap over the minimum', () => {
    const terms = (over: Record<string, unknown>) => compileTerms(parseTerms({ ...base, credit_tiers: tiers, ...over }));
    // The README's worked example: $20,000 base, 98.7 % → 25 % = $5,000.00.
    const due = percentOf(usd('20000'), tierFor(terms({}), micro('98.7'))!.credit_micro);
    assert.equal(due, usd('5000'));
    assert.deepEqual(settle(terms({}), due, usd('20000')), { before_cap: usd('5000'), minimum_applied: false, cap: usd('20000'), cap_applied: false, total: usd('5000') });
    assert.equal(settle(terms({ cap: { percent: '20' } }), due, usd('20000')).total, usd('4000'));
    const both = settle(terms({ cap: { percent: '20', amount: '3000.00' } }), due, usd('20000'));
    assert.deepEqual([both.cap, both.cap_applied, both.total], [usd('3000'), true, usd('3000')]);
    assert.equal(settle(terms({ cap: { percent: null, amount: '6000' } }), due, usd('20000')).total, usd('5000'));
    // Minimum: $1.10 due, minimum $5 → $5; nothing due → nothing; a cap below the minimum wins.
    const min = settle(terms({ minimum_credit: '5.00' }), usd('1.1'), usd('11'));
    assert.deepEqual([min.total, min.minimum_applied], [usd('5'), true]);
    assert.equal(settle(terms({ minimum_credit: '5.00' }), 0n, usd('11')).total, 0n);
    const capped = settle(terms({ minimum_credit: '5.00', cap: { percent: null, amount: '2.00' } }), usd('1.1'), usd('11'));
    assert.deepEqual([capped.minimum_applied, capped.cap_applied, capped.total], [true, true, usd('2')]);
  });

  test('the outcome table: failures, exclusions, upstreams covered or not', () => {
    const plain = outcomeTable(parseTerms(base));
    assert.equal(plain.platform_error, 'failed');
    assert.equal(plain.ok, 'good');
    assert.equal(plain.client_error, 'client_fault');
    assert.equal(plain.rate_limited, 'client_fault');
    assert.equal(plain.upstream_moderation, 'moderation');
    assert.equal(plain.upstream_rate_limited, 'rate_limit');
    assert.equal(plain.upstream_error, 'upstream_not_covered');
    assert.equal(plain.upstream_timeout, 'upstream_not_covered');
    const up = outcomeTable(parseTerms({ ...base, coverage: { upstreams: true } }));
    assert.deepEqual([up.upstream_error, up.upstream_timeout, up.upstream_rate_limited], ['failed', 'failed', 'rate_limit']);
    const strict = outcomeTable(parseTerms({ ...base, coverage: { upstreams: true }, exclusions: { rate_limits: false, client_faults: false } }));
    assert.deepEqual([strict.upstream_rate_limited, strict.client_error], ['failed', 'good']);
  });

  test('bad terms are refused naming the field', () => {
    const bad = (over: Record<string, unknown>, field: string) => {
      assert.throws(() => parseTerms({ ...base, ...over }), (e: unknown) => e instanceof AppError && e.code === 'VALIDATION' && e.details?.field === field);
    };
    bad({ target_percent: '100.5' }, 'terms.target_percent');
    bad({ target_percent: 99.9 }, 'terms.target_percent');
    bad({ time_zone: 'Mars/Olympus' }, 'terms.time_zone');
    bad({ term: { start: 'yesterday' } }, 'terms.term.start');
    bad({ term: { start: '2026-02-01T00:00:00Z', end: '2026-01-01T00:00:00Z' } }, 'terms.term.end');
    bad({ credit_tiers: [{ below_percent: '99', credit_percent: '50' }, { below_percent: '95', credit_percent: '10' }] }, 'terms.credit_tiers');
    bad({ failure_outcomes: ['client_error'] }, 'terms.failure_outcomes');
    bad({ metric: { type: 'time', threshold_percent: '5' } }, 'terms.metric.min_requests');
    bad({ surprise: true }, 'terms.surprise');
    bad({ cap: { amount: '-1' } }, 'terms.cap.amount');
  });

  test('months in a time zone: offsets, daylight saving, the month an instant belongs to', () => {
    assert.deepEqual(periodWindow('2026-03', 'Asia/Shanghai'), { from: Date.UTC(2026, 1, 28, 16), to: Date.UTC(2026, 2, 31, 16) });
    const ny = periodWindow('2026-03', 'America/New_York');
    assert.equal(ny.from, Date.UTC(2026, 2, 1, 5));
    assert.equal(ny.to, Date.UTC(2026, 3, 1, 4));
    assert.equal((ny.to - ny.from) / 60_000, 31 * 1440 - 60);
    assert.equal(zonedTime('UTC', 2026, 12), Date.UTC(2026, 11, 1));
    assert.equal(periodWindow('2026-12', 'UTC').to, Date.UTC(2027, 0, 1));
    assert.equal(periodOf(Date.UTC(2026, 1, 28, 16, 1), 'Asia/Shanghai'), '2026-03');
    assert.equal(periodOf(Date.UTC(2026, 1, 28, 15, 59), 'Asia/Shanghai'), '2026-02');
    assert.throws(() => periodWindow('2026-13', 'UTC'), (e: unknown) => e instanceof AppError && e.code === 'VALIDATION');
  });

  test("the README's worked example: three bad intervals in a 30-day month, one sev1 breach", () => {
    const c = compileTerms(parseTerms({ ...base, credit_tiers: tiers, cap: { percent: '20', amount: '3000.00' } }));
    const minutes = 30 * 1440;
    const m: MinuteCounts = {
      from: Date.UTC(2026, 10, 1), minutes, bucket: 1, buckets: minutes, good: new Uint32Array(minutes), failed: new Uint32Array(minutes),
      excluded: Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, new Uint32Array(minutes)])) as MinuteCounts['excluded'],
      spend: new BigInt64Array(minutes), maintenance: new Uint8Array(minutes), byOutcome: {},
    };
    // 40 of 100, 10 of 10, 20 of 40 failed, in three intervals; $20,000.00 of spend in all.
    [[0, 60, 40], [5000, 0, 10], [20000, 20, 20]].forEach(([at, good, failed]) => ((m.good[at!] = good!), (m.failed[at!] = failed!)));
    m.spend[1] = usd('20000');
    const r = measure(m, c);
    assert.equal(r.intervals.length, 8640);
    assert.equal(r.availability, Math.round(1e8 * (1 - 1.9 / 8640)));
    assert.equal((r.availability! / 1e6).toFixed(4), '99.9780');
    assert.equal(tierFor(c, r.availability), null);
    assert.equal(settle(c, usd('50'), r.spend).total, usd('50'));
    // At 98.7 %: 25 % = $5,000.00 + $50.00, capped at $3,000.00 (20 % would be $4,000.00).
    const due = percentOf(r.spend, tierFor(c, micro('98.7'))!.credit_micro) + usd('50');
    assert.deepEqual([settle(c, due, r.spend).cap, settle(c, due, r.spend).total], [usd('3000'), usd('3000')]);
  });

  test('the sla-intervals export columns, version 1, are pinned', () => {
    assert.equal(SLA_INTERVALS.version, 1);
    assert.deepEqual(SLA_INTERVALS.columns, [
      'contract_id', 'account_id', 'version', 'metric', 'interval_start', 'interval_end', 'measured', 'eligible', 'failed', 'error_rate', 'down',
      'excluded_maintenance', 'excluded_beta_model', 'excluded_client_fault', 'excluded_moderation', 'excluded_rate_limit', 'excluded_upstream_not_covered', 'covered_spend',
    ]);
    assert.deepEqual(SLA_INTERVALS.amountColumns, ['covered_spend']);
  });
});
