/**
 * Money in Surety: integers of nano-USD (1e-9 USD) held as `bigint`. Never floats.
 *
 * APIs take and return decimal strings of USD ("12.50"); this module converts between the two
 * without ever going through a JavaScript `number`.
 */

/** An amount of nano-USD (1e-9 USD). */
export type Nanos = bigint;

export const NANOS_PER_USD = 1_000_000_000n;

/**
 * Largest absolute amount `parseUsd` accepts: 1e9 USD, i.e. 1e18 nano-USD, for one movement, one
 * price or one setting. Storage keeps amounts as signed 64-bit integers (at most ~9.22e18): the
 * bound leaves room for sums (a balance plus a top-up plus a credit line never overflows).
 */
export const MAX_USD_NANOS: Nanos = 1_000_000_000n * NANOS_PER_USD;

/** The largest signed 64-bit integer: what either engine can store in a BIGINT/INTEGER column. */
export const INT64_MAX = 9_223_372_036_854_775_807n;

/** Thrown for any malformed amount; `message` is meant for humans (API error bodies, CLI output). */
export class MoneyFormatError extends Error {
  override name = 'MoneyFormatError';
}

export interface ParseUsdOptions {
  /** Accept a leading '-' (default false). */
  allowNegative?: boolean;
  /** Accept an amount equal to zero (default false). */
  allowZero?: boolean;
}

// sign, integer part (no leading zeros except a lone 0), optional 1..9 fraction digits
const USD_RE = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

function describe(s: string): string {
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);
}

/**
 * Parses a decimal USD string into nano-USD.
 *
 * Accepted: "100", "12.50", "0.000000001", "-3.2" (only with `allowNegative`).
 * Rejected with a MoneyFormatError: empty strings, surrounding whitespace, a leading '+',
 * exponent notation ("1e3"), more than 9 decimals, leading zeros ("007"), a bare point
 * (".5", "5."), thousands separators, zero unless `allowZero`, negatives unless `allowNegative`,
 * and absolute values above 1e9 USD (MAX_USD_NANOS).
 */
export function parseUsd(s: string, opts?: ParseUsdOptions): Nanos {
  if (typeof s !== 'string') throw new MoneyFormatError('amount must be a string of USD, e.g. "12.50"');
  if (s.length === 0) throw new MoneyFormatError('amount is empty');
  if (s.length > 64) throw new MoneyFormatError(`amount ${describe(s)} is too long`);
  const m = USD_RE.exec(s);
  if (m === null) {
    if (s.trim() !== s) throw new MoneyFormatError(`amount ${describe(s)} has surrounding whitespace`);
    if (s.startsWith('+')) throw new MoneyFormatError(`amount ${describe(s)} must not start with '+'`);
    if (/[eE]/.test(s)) throw new MoneyFormatError(`amount ${describe(s)} uses exponent notation; write it as a plain decimal`);
    if (/^-?0[0-9]/.test(s)) throw new MoneyFormatError(`amount ${describe(s)} has leading zeros`);
    throw new MoneyFormatError(`amount ${describe(s)} is not a decimal number of USD, e.g. "12.50"`);
  }
  const negative = m[1] === '-';
  const frac = m[3] ?? '';
  if (frac.length > 9) {
    throw new MoneyFormatError(`amount ${describe(s)} has more than 9 decimals (the smallest unit is 0.000000001 USD)`);
  }
  const magnitude = BigInt(m[2]) * NANOS_PER_USD + (frac === '' ? 0n : BigInt(frac.padEnd(9, '0')));
  if (magnitude > MAX_USD_NANOS) throw new MoneyFormatError(`amount ${describe(s)} exceeds the maximum of 1000000000 USD`);
  if (magnitude === 0n) {
    if (!(opts?.allowZero ?? false)) throw new MoneyFormatError('amount must not be zero');
    return 0n;
  }
  if (negative) {
    if (!(opts?.allowNegative ?? false)) throw new MoneyFormatError(`amount ${describe(s)} must not be negative`);
    return -magnitude;
  }
  return magnitude;
}

/**
 * Canonical decimal string of USD: at least 2 decimals, trailing zeros beyond the 2nd trimmed.
 * 12500000000n → "12.50", 1n → "0.000000001", -5n → "-0.000000005", 0n → "0.00".
 */
export function formatUsd(n: Nanos): string {
  const negative = n < 0n;
  const abs = negative ? -n : n;
  const whole = abs / NANOS_PER_USD;
  let frac = (abs % NANOS_PER_USD).toString().padStart(9, '0');
  let end = frac.length;
  while (end > 2 && frac.charCodeAt(end - 1) === 48 /* '0' */) end--;
  frac = frac.slice(0, end);
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

/**
 * a × b ÷ d, rounded to the nearest integer, ties (exactly .5) rounded half away from zero:
 * 2.5 → 3, -2.5 → -3, 2.4 → 2. The product is exact (bigint), so this is the only rounding step.
 * Surety rounds once per request, on the request's total (see src/billing/pricing.ts).
 */
export function mulDivRound(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('mulDivRound: division by zero');
  let p = a * b;
  let q = d;
  if (q < 0n) {
    q = -q;
    p = -p;
  }
  const negative = p < 0n;
  const abs = negative ? -p : p;
  let r = abs / q;
  if ((abs % q) * 2n >= q) r += 1n; // remainder of at least half → away from zero
  return negative ? -r : r;
}

/** a × b ÷ d rounded up (towards +∞). Used for holds, which must never be below the charge. */
export function mulDivCeil(a: bigint, b: bigint, d: bigint): bigint {
  if (d === 0n) throw new RangeError('mulDivCeil: division by zero');
  let p = a * b;
  let q = d;
  if (q < 0n) {
    q = -q;
    p = -p;
  }
  if (p >= 0n) return (p + q - 1n) / q;
  return -(-p / q);
}

const RATIO_RE = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,9}))?$/;

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * Parses a non-negative decimal multiplier ("0.9", "1.25", "2") into an exact reduced fraction.
 * At most 9 decimals and at most 1,000,000; rejected with a MoneyFormatError otherwise.
 */
export function parseDecimalRatio(s: string): { num: bigint; den: bigint } {
  if (typeof s !== 'string') throw new MoneyFormatError('multiplier must be a decimal string, e.g. "0.9"');
  const m = RATIO_RE.exec(s);
  if (m === null) throw new MoneyFormatError(`multiplier ${describe(s)} is not a non-negative decimal such as "0.9" or "1.25"`);
  const frac = m[2] ?? '';
  let den = 10n ** BigInt(frac.length);
  let num = BigInt(m[1]) * den + (frac === '' ? 0n : BigInt(frac));
  if (num > 1_000_000n * den) throw new MoneyFormatError(`multiplier ${describe(s)} is unreasonably large`);
  const g = num === 0n ? den : gcd(num, den);
  num /= g;
  den /= g;
  return { num, den };
}
