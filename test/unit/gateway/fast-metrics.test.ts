// The hot path's counters and histograms expose what prom-client's own would, for the same
// observations (label order within a line aside), through a prom-client Registry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../../../src/gateway/fast-metrics.ts';

/** Metric lines as a map: name{sorted labels} → value. */
function lines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(l);
    assert.ok(m, `a metric line: ${l}`);
    const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

test('FastCounter and FastHistogram give the same exposition as prom-client for the same observations', async () => {
  const fast = new Registry();
  const slow = new Registry();
  const buckets = [0.005, 0.01, 0.1, 1, 10];
  const fc = new FastCounter({ name: 'req_total', help: 'h', labelNames: ['model', 'outcome'], registers: [fast] });
  const sc = new Counter({ name: 'req_total', help: 'h', labelNames: ['model', 'outcome'], registers: [slow] });
  const fh = new FastHistogram({ name: 'dur_seconds', help: 'h', labelNames: ['model'], buckets, registers: [fast] });
  const sh = new Histogram({ name: 'dur_seconds', help: 'h', labelNames: ['model'], buckets, registers: [slow] });
  const obs: Array<[string, string, number]> = [
    ['a', 'ok', 0.004],
    ['a', 'ok', 0.005],
    ['a', 'upstream_error', 0.5],
    ['b', 'ok', 12],
    ['a', 'ok', 1],
    ['b', 'ok', 0.01],
  ];
  for (const [model, outcome, v] of obs) {
    fc.of(model, outcome).inc();
    sc.labels(model, outcome).inc();
    fc.of(model, outcome).inc(2);
    sc.labels(model, outcome).inc(2);
    fh.of(model).observe(v);
    sh.labels(model).observe(v);
  }
  const a = lines(await fast.metrics());
  const b = lines(await slow.metrics());
  assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
  // Spot checks that could be false: the cumulative buckets and the counts.
  assert.equal(a.get('dur_seconds_bucket{le="0.005",model="a"}'), 2, 'a bound includes what equals it');
  assert.equal(a.get('dur_seconds_bucket{le="+Inf",model="b"}'), 2);
  assert.equal(a.get('req_total{model="a",outcome="ok"}'), 9);
  // The same child every time: no new series for a repeated label set.
  assert.equal(fc.of('a', 'ok'), fc.of('a', 'ok'));
  fast.resetMetrics();
  assert.equal(lines(await fast.metrics()).size, 0, 'reset empties them');
});
