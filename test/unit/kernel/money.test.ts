import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatUsd,
  MAX_USD_NANOS,
  MoneyFormatError,
  mulDivCeil,
  mulDivRound,
  NANOS_PER_USD,
  parseDecimalRatio,
  parseUsd,
} from '../../../src/kernel/money.ts';

test('parseUsd accepts plain decimals', () => {
  assert.equal(NANOS_PER_USD, 1_000_000_000n);
  assert.equal(parseUsd('12.50'), 12_500_000_000n);
  assert.equal(parseUsd('0.000000001'), 1n);
  assert.equal(parseUsd('100'), 100_000_000_000n);
  assert.equal(parseUsd('0.15'), 150_000_000n);
  assert.equal(parseUsd('1.5'), 1_500_000_000n);
  assert.equal(parseUsd('999999999.999999999'), 999_999_999_999_999_999n);
  assert.equal(parseUsd('1000000000'), MAX_USD_NANOS);
  assert.throws(() => parseUsd('9223372036.854775807'), /maximum/);
});

test('parseUsd zero and negatives only when allowed', () => {
  assert.throws(() => parseUsd('0'), MoneyFormatError);
  assert.throws(() => parseUsd('0.000'), MoneyFormatError);
  assert.equal(parseUsd('0', { allowZero: true }), 0n);
  assert.equal(parseUsd('0.00', { allowZero: true }), 0n);
  assert.throws(() => parseUsd('-1.00'), /negative/);
  assert.equal(parseUsd('-1.25', { allowNegative: true }), -1_250_000_000n);
  assert.equal(parseUsd('-0.000000005', { allowNegative: true }), -5n);
  assert.equal(parseUsd('-0', { allowNegative: true, allowZero: true }), 0n);
  assert.throws(() => parseUsd('-0', { allowNegative: true }), /zero/);
});

test('parseUsd rejects malformed input with a human message', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    [' 1.00', /whitespace/],
    ['1.00 ', /whitespace/],
    ['+1.00', /'\+'/],
    ['1e3', /exponent/],
    ['1.5E-3', /exponent/],
    ['0.0000000001', /9 decimals/],
    ['1.1234567891', /9 decimals/],
    ['abc', /not a decimal/],
    ['1,000.00', /not a decimal/],
    ['.5', /not a decimal/],
    ['5.', /not a decimal/],
    ['007', /leading zeros/],
    ['NaN', /not a decimal/],
    ['Infinity', /not a decimal/],
    ['0x10', /not a decimal/],
    ['1.2.3', /not a decimal/],
    ['--1', /not a decimal/],
    ['1000000000.000000001', /maximum/],
    ['99999999999999999999', /maximum/],
    ['1'.repeat(100), /too long/],
  ];
  for (const [s, re] of bad) {
    assert.throws(
      () => parseUsd(s, { allowZero: true, allowNegative: true }),
      (e: unknown) => e instanceof MoneyFormatError && re.test(e.message),
      `expected ${JSON.stringify(s)} to be rejected with ${re}`,
    );
  }
  assert.throws(() => parseUsd('-1000000000.01', { allowNegative: true }), /maximum/);
  assert.throws(() => parseUsd(12.5 as unknown as string), MoneyFormatError);
});

test('formatUsd is canonical', () => {
  assert.equal(formatUsd(12_500_000_000n), '12.50');
  assert.equal(formatUsd(1n), '0.000000001');
  assert.equal(formatUsd(-5n), '-0.000000005');
  assert.equal(formatUsd(0n), '0.00');
  assert.equal(formatUsd(100_000_000_000n), '100.00');
  assert.equal(formatUsd(150_000_000n), '0.15');
  assert.equal(formatUsd(1_234_500_000n), '1.2345');
  assert.equal(formatUsd(-12_000_000_000n), '-12.00');
  assert.equal(formatUsd(10_000_000n), '0.01');
  assert.equal(formatUsd(MAX_USD_NANOS), '1000000000.00');
});

test('parseUsd(formatUsd(n)) round-trips', () => {
  let seed = 42n;
  const next = (): bigint => {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    return seed;
  };
  const samples = [0n, 1n, -1n, 9n, 10n, 999_999_999n, 1_000_000_000n, MAX_USD_NANOS, -MAX_USD_NANOS];
  for (let i = 0; i < 2000; i++) {
    const mag = next() % (MAX_USD_NANOS + 1n);
    const scale = 10n ** (next() % 22n);
    samples.push((i % 2 === 0 ? 1n : -1n) * (mag / scale));
  }
  for (const n of samples) {
    const s = formatUsd(n);
    assert.equal(parseUsd(s, { allowNegative: true, allowZero: true }), n, s);
    assert.match(s, /^-?(0|[1-9][0-9]*)\.[0-9]{2,9}$/);
  }
  for (const s of ['12.50', '0.000000001', '100.00', '0.15', '3.75']) {
    assert.equal(formatUsd(parseUsd(s)), s);
  }
});

test('mulDivRound rounds half away from zero', () => {
  assert.equal(mulDivRound(5n, 1n, 2n), 3n); // 2.5
  assert.equal(mulDivRound(-5n, 1n, 2n), -3n); // -2.5
  assert.equal(mulDivRound(5n, -1n, 2n), -3n);
  assert.equal(mulDivRound(5n, 1n, -2n), -3n);
  assert.equal(mulDivRound(-5n, -1n, 2n), 3n);
  assert.equal(mulDivRound(7n, 15n, 100n), 1n); // 1.05
  assert.equal(mulDivRound(1n, 15n, 100n), 0n); // 0.15
  assert.equal(mulDivRound(1n, 1n, 3n), 0n); // 0.333
  assert.equal(mulDivRound(2n, 1n, 3n), 1n); // 0.667
  assert.equal(mulDivRound(-2n, 1n, 3n), -1n);
  assert.equal(mulDivRound(149n, 1n, 100n), 1n);
  assert.equal(mulDivRound(150n, 1n, 100n), 2n);
  assert.equal(mulDivRound(-149n, 1n, 100n), -1n);
  assert.equal(mulDivRound(0n, 7n, 9n), 0n);
  assert.equal(mulDivRound(10n ** 30n, 3n, 10n ** 20n), 3n * 10n ** 10n);
  assert.throws(() => mulDivRound(1n, 1n, 0n), RangeError);
});

test('mulDivCeil rounds up', () => {
  assert.equal(mulDivCeil(1n, 15n, 100n), 1n);
  assert.equal(mulDivCeil(100n, 1n, 100n), 1n);
  assert.equal(mulDivCeil(101n, 1n, 100n), 2n);
  assert.equal(mulDivCeil(-101n, 1n, 100n), -1n);
  assert.equal(mulDivCeil(0n, 1n, 100n), 0n);
});

test('parseDecimalRatio', () => {
  assert.deepEqual(parseDecimalRatio('0.9'), { num: 9n, den: 10n });
  assert.deepEqual(parseDecimalRatio('1.25'), { num: 5n, den: 4n });
  assert.deepEqual(parseDecimalRatio('2'), { num: 2n, den: 1n });
  assert.deepEqual(parseDecimalRatio('1.000'), { num: 1n, den: 1n });
  assert.deepEqual(parseDecimalRatio('0'), { num: 0n, den: 1n });
  assert.deepEqual(parseDecimalRatio('0.000000001'), { num: 1n, den: 1_000_000_000n });
  for (const s of ['', '-0.9', '+1', '1e2', '.9', '0.1234567891', 'x', '01.5', '2000000']) {
    assert.throws(() => parseDecimalRatio(s), MoneyFormatError, s);
  }
});
