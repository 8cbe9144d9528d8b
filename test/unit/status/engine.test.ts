// The status engine on its own: each threshold crossed both ways, the bands and the streaks of the
// hysteresis, latency against the component's own baseline, probes, and who wins over whom.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { observe, probeLevel, publicStatus, step, windowLevel, type AutoState, type WindowStats } from '../../../src/status/engine.ts';
import { DEFAULT_RULES, RulesInput } from '../../../src/status/rules.ts';
import type { AutoLevel } from '../../../src/status/vocabulary.ts';

const rules = DEFAULT_RULES;
const win = (requests: number, errors: number, latencyMs = 0, latencyN = 0, minutes = 2): WindowStats => ({ minutes, requests, errors, latencyMs, latencyN });
const level = (requests: number, errors: number, current: AutoLevel = 'operational') => windowLevel(win(requests, errors), rules, current, null)?.level ?? null;

describe('thresholds (defaults: degraded 5 %, partial 20 %, major 50 %)', () => {
  test('each threshold, just below and at it, from operational', () => {
    assert.equal(level(1000, 0), 'operational');
    assert.equal(level(1000, 49), 'operational');
    assert.equal(level(1000, 50), 'degraded_performance');
    assert.equal(level(1000, 199), 'degraded_performance');
    assert.equal(level(1000, 200), 'partial_outage');
    assert.equal(level(1000, 499), 'partial_outage');
    assert.equal(level(1000, 500), 'major_outage');
    assert.equal(level(1000, 1000), 'major_outage');
  });
  test('too few requests say nothing', () => {
    assert.equal(level(9, 9), null);
    assert.equal(level(10, 10), 'major_outage');
  });
  test('bands: a level is left only below threshold × exit_ratio (0.5)', () => {
    // In a major outage, 30 % errors is still major (exit at 25 %); 24 % is partial.
    assert.equal(level(1000, 300, 'major_outage'), 'major_outage');
    assert.equal(level(1000, 250, 'major_outage'), 'major_outage');
    assert.equal(level(1000, 249, 'major_outage'), 'partial_outage');
    // Partial stays down to 10 %, degraded down to 2.5 %.
    assert.equal(level(1000, 100, 'partial_outage'), 'partial_outage');
    assert.equal(level(1000, 99, 'partial_outage'), 'degraded_performance');
    assert.equal(level(1000, 25, 'degraded_performance'), 'degraded_performance');
    assert.equal(level(1000, 24, 'degraded_performance'), 'operational');
    // The same 3 % from operational is not degraded.
    assert.equal(level(1000, 30, 'operational'), 'operational');
  });
  test('latency against the component\'s own baseline', () => {
    const at = (mean: number, current: AutoLevel = 'operational') => windowLevel(win(100, 0, mean * 100, 100), rules, current, 400)?.level;
    assert.equal(at(999), 'operational');
    assert.equal(at(1000), 'degraded_performance', '2.5 × 400 ms');
    // Leaving it: below 1 + (2.5 − 1) × 0.5 = 1.75 × the baseline.
    assert.equal(at(701, 'degraded_performance'), 'degraded_performance');
    assert.equal(at(699, 'degraded_performance'), 'operational');
    // A slow image model is judged against itself: 60 s against a 50 s baseline is fine.
    assert.equal(windowLevel(win(100, 0, 60_000 * 100, 100), rules, 'operational', 50_000)?.level, 'operational');
    // Without a baseline latency says nothing.
    assert.equal(windowLevel(win(100, 0, 1e9, 100), rules, 'operational', null)?.level, 'operational');
  });
  test('probes: two failures at least', () => {
    assert.equal(probeLevel(5, 1), null);
    assert.equal(probeLevel(5, 2)?.level, 'degraded_performance');
    assert.equal(probeLevel(4, 2)?.level, 'partial_outage');
    assert.equal(probeLevel(3, 3)?.level, 'major_outage');
  });
  test('observe takes the worst window and the probes; nothing known is operational', () => {
    const o = observe({ windows: [win(20, 20, 0, 0, 2), win(500, 20, 0, 0, 10)], probes: 0, probeFailures: 0, baselineMs: null }, rules, 'operational');
    assert.equal(o.level, 'major_outage');
    assert.match(o.why, /error rate 100\.0 % of 20 requests over 2 min/);
    assert.equal(observe({ windows: [win(0, 0)], probes: 4, probeFailures: 4, baselineMs: null }, rules, 'operational').level, 'major_outage');
    assert.equal(observe({ windows: [], probes: 0, probeFailures: 0, baselineMs: null }, rules, 'major_outage').level, 'operational');
  });
  test('rules must rise', () => {
    assert.equal(RulesInput.safeParse({ degraded_error_rate: 0.3, partial_error_rate: 0.2 }).success, false);
  });
});

describe('hysteresis by streaks (raise after 2, clear after 4)', () => {
  const run = (seq: AutoLevel[], start: AutoLevel = 'operational') => {
    let s: AutoState = { status: start, streak: null };
    const out: AutoLevel[] = [];
    for (const l of seq) out.push((s = step(s, l, rules)).status);
    return out;
  };
  test('a single blip does not flap the page', () => {
    assert.deepEqual(run(['major_outage', 'operational', 'major_outage', 'operational']), ['operational', 'operational', 'operational', 'operational']);
  });
  test('two worse evaluations in a row raise it, to the mildest level of the streak', () => {
    assert.deepEqual(run(['major_outage', 'major_outage']), ['operational', 'major_outage']);
    // major then partial: at least partial twice → partial; the next major starts a new streak.
    assert.deepEqual(run(['major_outage', 'partial_outage', 'major_outage']), ['operational', 'partial_outage', 'partial_outage']);
  });
  test('recovery needs four better evaluations in a row; a relapse restarts the count', () => {
    assert.deepEqual(run(['operational', 'operational', 'operational', 'operational'], 'major_outage'), ['major_outage', 'major_outage', 'major_outage', 'operational']);
    assert.deepEqual(run(['operational', 'operational', 'operational', 'major_outage', 'operational'], 'major_outage').at(-1), 'major_outage');
    // Recovering through partial: it goes to the worst level seen while recovering.
    assert.deepEqual(run(['operational', 'partial_outage', 'operational', 'operational'], 'major_outage').at(-1), 'partial_outage');
  });
  test('thresholds and streaks are per component', () => {
    const strict = RulesInput.parse({ raise_after: 1, clear_after: 1 });
    assert.equal(step({ status: 'operational', streak: null }, 'major_outage', strict).status, 'major_outage');
  });
});

describe('who wins', () => {
  const now = 1_000_000;
  test('maintenance wins over an override and the engine', () => {
    assert.deepEqual(publicStatus({ auto: 'major_outage', override: { status: 'operational', until: null }, maintenance: true, now }), { status: 'under_maintenance', source: 'maintenance' });
  });
  test('an active override wins over the engine; an expired one does not', () => {
    assert.deepEqual(publicStatus({ auto: 'operational', override: { status: 'partial_outage', until: now + 1 }, maintenance: false, now }), { status: 'partial_outage', source: 'override' });
    assert.deepEqual(publicStatus({ auto: 'degraded_performance', override: { status: 'partial_outage', until: now }, maintenance: false, now }), { status: 'degraded_performance', source: 'auto' });
  });
});
