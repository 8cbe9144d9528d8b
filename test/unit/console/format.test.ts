// The console's own logic (console/src/lib): amounts shown and compared exactly, times, ranges,
// query strings, API errors, chart shaping, languages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareUsd, dateInputBounds, errorMessage, money, nanos, nextSort, qs, rangeBounds, usdProblem, utcTitle, localTime, tzOffsetMinutes } from '../../../console/src/lib/format.ts';
import { daySpan, lastDays, pivotDaily, stack, usdTick } from '../../../console/src/lib/chart.ts';
import { pickLang, translate } from '../../../console/src/lib/i18n.ts';

test('amounts are shown as the API gives them and compared exactly, never as floats', () => {
  assert.equal(money('12.50'), '$12.50');
  assert.equal(money('-0.000000001'), '−$0.000000001');
  assert.equal(money(null), '—');
  assert.equal(nanos('0.1') + nanos('0.2'), nanos('0.3'));
  assert.equal(compareUsd('1000000000.000000001', '1000000000.000000000'), 1);
  assert.equal(compareUsd('-1', '0.5'), -1);
  assert.equal(compareUsd('2.50', '2.5'), 0);
  assert.throws(() => nanos('1e3'));
});

test('times: UTC on hover, the viewer\'s zone and language in the text', () => {
  assert.equal(utcTitle('2026-12-01T13:04:05.678Z'), '2026-12-01 13:04:05 UTC');
  assert.equal(localTime('2026-12-01T13:04:05Z', 'en-GB', 'Asia/Shanghai'), '1 Dec 2026, 21:04:05');
  assert.match(localTime('2026-12-01T13:04:05Z', 'zh-CN', 'UTC'), /2026.*13:04:05/);
  assert.equal(localTime(null, 'en-GB'), '—');
  assert.equal(tzOffsetMinutes(new Date()), -new Date().getTimezoneOffset());
});

test('ranges are whole local days ending at the next local midnight', () => {
  const now = new Date(2026, 11, 1, 15, 30);
  const today = rangeBounds('today', now);
  assert.equal(new Date(today.from).getTime(), new Date(2026, 11, 1).getTime());
  assert.equal(new Date(today.to).getTime(), new Date(2026, 11, 2).getTime());
  const week = rangeBounds('7d', now);
  assert.equal(new Date(week.from).getTime(), new Date(2026, 10, 25).getTime());
  assert.deepEqual(dateInputBounds('2026-11-01', '2026-11-30'), { from: new Date(2026, 10, 1).toISOString(), to: new Date(2026, 11, 1).toISOString() });
  assert.equal(dateInputBounds('2026-11-30', '2026-11-01'), null);
  assert.equal(dateInputBounds('', '2026-11-01'), null);
});

test('query strings leave out empty parameters; API errors keep their code and message', () => {
  assert.equal(qs({ a: 1, b: '', c: undefined, d: null, e: 'x y' }), '?a=1&e=x+y');
  assert.equal(qs({}), '');
  assert.deepEqual(errorMessage(403, { error: { code: 'CSRF_REJECTED', message: 'no token' } }), { code: 'CSRF_REJECTED', message: 'no token' });
  assert.deepEqual(errorMessage(502, '<html>'), { code: 'HTTP_502', message: 'The server answered 502.' });
});

test('the spend chart: every day of the span, one series per model, stacked', () => {
  assert.deepEqual(daySpan('2026-11-29', '2026-12-02'), ['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
  const p = pivotDaily(
    [
      { day: '2026-11-30', model: 'b', spend: '0.5', requests: 1 },
      { day: '2026-11-29', model: 'a', spend: '1.25', requests: 2 },
      { day: '2026-11-30', model: 'a', spend: '2', requests: 1 },
      { day: '2026-11-30', model: null, spend: '0.1', requests: 1 },
    ],
    '2026-11-28',
    '2026-11-30',
  );
  assert.deepEqual(p.days, ['2026-11-28', '2026-11-29', '2026-11-30']);
  assert.deepEqual(p.models, ['(none)', 'a', 'b']);
  assert.deepEqual(p.series, [[0, 0, 0.1], [0, 1.25, 2], [0, 0, 0.5]]);
  assert.equal(p.xs[0], new Date(2026, 10, 28).getTime() / 1000);
  assert.deepEqual(stack([[1, 2], [3, 4], [0, 1]]), [[1, 2], [4, 6], [4, 7]]);
  assert.deepEqual(lastDays(3, new Date(2026, 0, 1, 12)), ['2025-12-30', '2026-01-01']);
  assert.equal(usdTick(0), '$0');
  assert.equal(usdTick(12.5), '$12.50');
  assert.equal(usdTick(0.000021), '$0.000021');
});

test('language: a saved choice, else the browser\'s; placeholders filled; missing texts in English', () => {
  assert.equal(pickLang(null, ['zh-TW', 'en']), 'zh');
  assert.equal(pickLang(null, ['fr', 'en-US']), 'en');
  assert.equal(pickLang('en', ['zh-CN']), 'en');
  assert.equal(pickLang(null, []), 'en');
  assert.equal(translate('zh', '{n} requests', { n: 3 }), '3 个请求');
  assert.equal(translate('en', '{n} requests', { n: 3 }), '3 requests');
  assert.equal(translate('zh', 'a text nobody translated'), 'a text nobody translated');
});

test('a header click sorts by its column ascending, a second click descending, then ascending again', () => {
  assert.equal(nextSort('-created_at', 'amount'), 'amount');
  assert.equal(nextSort('amount', 'amount'), '-amount');
  assert.equal(nextSort('-amount', 'amount'), 'amount');
  assert.equal(nextSort('', 'name'), 'name');
});

test('a typed refund amount is checked exactly before anything is sent', () => {
  assert.equal(usdProblem('12.50', '12.50'), null);
  assert.equal(usdProblem(' 0.000000001 '), null);
  assert.equal(usdProblem('12.500000001', '12.50'), 'over');
  assert.equal(usdProblem('0.00'), 'zero');
  assert.equal(usdProblem('12,50'), 'format');
  assert.equal(usdProblem('-1'), 'format');
  assert.equal(usdProblem('1.0000000001'), 'format');
  assert.equal(usdProblem(''), 'format');
});
