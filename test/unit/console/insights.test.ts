// The server-side rules of the console's summaries: the low-balance warning and days in the
// viewer's zone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLowBalance } from '../../../src/console/insights.ts';
import { dayExpr, dayLabel, dayStarts } from '../../../src/console/usage.ts';

const usd = (n: number) => BigInt(Math.round(n * 100)) * 10_000_000n;

test('low balance: under $1, or less than 3 days left at the last 7 days\' average spend', () => {
  assert.equal(isLowBalance(usd(0.99), 0n), true);
  assert.equal(isLowBalance(usd(1), 0n), false);
  // $70 over 7 days = $10 a day: $29.99 is under 3 days, $30 is not.
  assert.equal(isLowBalance(usd(29.99), usd(70)), true);
  assert.equal(isLowBalance(usd(30), usd(70)), false);
  assert.equal(isLowBalance(-usd(5), 0n), true);
});

test('today and this month start at the viewer\'s midnight (tz_offset_minutes)', () => {
  const now = Date.UTC(2026, 11, 1, 20, 0); // 2026-12-02 04:00 in UTC+8
  assert.deepEqual(dayStarts(now, 480), { today: Date.UTC(2026, 11, 1, 16, 0), month: Date.UTC(2026, 10, 30, 16, 0) });
  assert.deepEqual(dayStarts(now, 0), { today: Date.UTC(2026, 11, 1), month: Date.UTC(2026, 11, 1) });
  assert.deepEqual(dayStarts(now, -300), { today: Date.UTC(2026, 11, 1, 5), month: Date.UTC(2026, 11, 1, 5) });
  assert.equal(dayLabel(Math.floor((now + 480 * 60_000) / 86_400_000)), '2026-12-02');
  assert.equal(dayExpr(-60), 'CAST((started_at + -3600000) / 86400000 AS BIGINT)');
});

test('the usage export dataset and its columns are documented in docs/export.md', async () => {
  const { readFileSync } = await import('node:fs');
  const { USAGE_DATASET } = await import('../../../src/console/usage.ts');
  const doc = readFileSync(new URL('../../../docs/export.md', import.meta.url), 'utf8');
  assert.ok(doc.includes(`### \`${USAGE_DATASET.name}\`, version ${USAGE_DATASET.version}`));
  for (const c of USAGE_DATASET.columns) assert.ok(doc.includes(`\`${c}\``), `column ${c}`);
});

test('cost breakdown: each component × its rate, exact before rounding; fallbacks as priceUsage bills them', async () => {
  const { costLines, exactUsd } = await import('../../../src/console/cost.ts');
  const { compilePrice } = await import('../../../src/catalog/index.ts');
  const { priceUsage } = await import('../../../src/billing/pricing.ts');
  const price = compilePrice({ input_per_mtok: '0.15', cached_input_per_mtok: '0.075', output_per_mtok: '0.60' });
  const usage = { input_tokens: 7, cached_input_tokens: 3, cache_write_tokens: 2, output_tokens: 16, images: 0 };
  const { lines, subtotal } = costLines(price, usage);
  assert.deepEqual(lines.map((l) => [l.component, l.quantity, l.rate, l.amount]), [
    ['input_tokens', 7, '0.15', '0.00000105'],
    ['cached_input_tokens', 3, '0.075', '0.000000225'],
    // No cache-write rate: billed at the input rate, never free.
    ['cache_write_tokens', 2, '0.15', '0.0000003'],
    ['output_tokens', 16, '0.60', '0.0000096'],
  ]);
  assert.equal(exactUsd(subtotal), '0.000011175');
  // The same sum priceUsage charges (11,175 nano-USD; it rounds once, here nothing to round).
  assert.equal(priceUsage(price, { ...usage, reasoning_tokens: 0, estimated: false }), 11_175n);
  assert.equal(exactUsd(0n), '0.00');
  assert.equal(exactUsd(5n * 1_000_000_000n * 1_000_000n), '5.00');
});
