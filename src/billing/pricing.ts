/**
 * Cost of a request: exact sum of every component, multiplier applied, rounded ONCE to integer
 * nano-USD (half away from zero). See docs/pricing.md.
 */
import { mulDivCeil, mulDivRound, type Nanos } from '../kernel/money.ts';
import type { BillableUsage } from '../providers/types.ts';
import type { CompiledPrice } from '../catalog/price-book.ts';

export interface Multiplier {
  num: bigint;
  den: bigint;
}

const MTOK = 1_000_000n;
const ONE: Multiplier = { num: 1n, den: 1n };

function checkMultiplier(m: Multiplier): void {
  if (m.den <= 0n || m.num < 0n) throw new RangeError('multiplier must be a non-negative fraction with a positive denominator');
}

function checkCount(name: string, n: number): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return BigInt(n);
}

function norm(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.trim().toLowerCase();
  return t === '' ? undefined : t;
}

/**
 * The per-image price for a size and quality. Lookup order (keys are case-insensitive):
 * "size/quality" → "size" → "quality" → "default". Returns null when the model has no per_image.
 */
export function lookupImagePrice(price: CompiledPrice, size?: string, quality?: string): Nanos | null {
  const table = price.per_image;
  if (table === null) return null;
  const s = norm(size);
  const q = norm(quality);
  let v: Nanos | undefined;
  if (s !== undefined && q !== undefined) v = table.get(`${s}/${q}`);
  if (v === undefined && s !== undefined) v = table.get(s);
  if (v === undefined && q !== undefined) v = table.get(q);
  if (v === undefined) v = table.get('default');
  return v ?? null;
}

/**
 * The highest per-image price `lookupImagePrice` could return once the unknown parts are known.
 * A size or quality that is absent or "auto" is unknown (the upstream chooses, and reports it).
 */
export function maxImagePrice(price: CompiledPrice, size?: string, quality?: string): Nanos {
  const table = price.per_image;
  if (table === null) return 0n;
  let s = norm(size);
  let q = norm(quality);
  if (s === 'auto') s = undefined;
  if (q === 'auto') q = undefined;
  if (s !== undefined && q !== undefined) return lookupImagePrice(price, s, q) ?? 0n;
  let max = 0n;
  const consider = (v: Nanos | undefined): void => {
    if (v !== undefined && v > max) max = v;
  };
  if (s !== undefined) {
    // quality unknown: "s/*" keys; then "s" if present, else any single key (as a quality) or default
    for (const [k, v] of table) if (k.startsWith(`${s}/`)) consider(v);
    const exact = table.get(s);
    if (exact !== undefined) return exact > max ? exact : max;
    for (const [k, v] of table) if (!k.includes('/')) consider(v);
    return max;
  }
  if (q !== undefined) {
    // size unknown: "*/q" keys, any single key (as a size), "q", default
    for (const [k, v] of table) if (k.endsWith(`/${q}`) || !k.includes('/')) consider(v);
    return max;
  }
  for (const v of table.values()) consider(v);
  return max;
}

/**
 * Prices billable usage. Every component is summed exactly as a numerator over 1M (token counts ×
 * nano-USD per 1M tokens, plus units × nano-USD per unit × 1M), the multiplier is applied, and
 * the total is rounded once to integer nano-USD, half away from zero. E.g. 1 input token at
 * $0.15/M is 0.15 nano-USD → 0; 7 tokens are 1.05 → 1.
 *
 * A token category whose rate is not configured is billed at its base rate, never free: cached
 * input and cache writes at `input_per_mtok`, image input at `input_per_mtok`, image output at
 * `output_per_mtok`. E.g. an OpenAI model priced {input "1.25", cached_input "0.125"} per 1M (1,250
 * and 125 nano-USD a token) and no cache_write rate, with 1000 input, 500 cached and 2000
 * cache-write tokens: 1000 × 1,250 + 500 × 125 + 2000 × 1,250 = 3,812,500 nano-USD (the writes
 * would have been free before). Only a base rate left unset (a per-image model's input) bills its
 * tokens at 0. `per_request` is added once.
 */
export function priceUsage(price: CompiledPrice, usage: BillableUsage, multiplier: Multiplier = ONE): bigint {
  checkMultiplier(multiplier);
  const input = price.input_per_mtok;
  const output = price.output_per_mtok;
  let numerator = 0n; // nano-USD × 1M
  const tokens = (name: string, n: number | undefined, unit: Nanos | null): void => {
    const q = checkCount(name, n ?? 0);
    if (q > 0n && unit !== null) numerator += q * unit;
  };
  tokens('input_tokens', usage.input_tokens, input);
  tokens('cached_input_tokens', usage.cached_input_tokens, price.cached_input_per_mtok ?? input);
  tokens('cache_write_tokens', usage.cache_write_tokens, price.cache_write_per_mtok ?? input);
  tokens('output_tokens', usage.output_tokens, output);
  tokens('image_input_tokens', usage.image_input_tokens, price.image_input_per_mtok ?? input);
  tokens('image_output_tokens', usage.image_output_tokens, price.image_output_per_mtok ?? output);
  checkCount('reasoning_tokens', usage.reasoning_tokens);
  const images = checkCount('images', usage.images);
  if (images > 0n) numerator += images * (lookupImagePrice(price, usage.image_size, usage.image_quality) ?? 0n) * MTOK;
  if (price.per_request !== null) numerator += price.per_request * MTOK;
  return mulDivRound(numerator, multiplier.num, MTOK * multiplier.den);
}

export interface WorstCaseEstimate {
  max_input_tokens: number;
  max_output_tokens: number;
  images: number;
  image_size?: string;
  image_quality?: string;
}

function maxOf(...xs: Array<Nanos | null>): Nanos {
  let m = 0n;
  for (const x of xs) if (x !== null && x > m) m = x;
  return m;
}

/**
 * An upper bound of `priceUsage` for any usage within the estimate, used for the pre-request
 * hold: every input token at the dearest input rate (uncached, cached, cache write, image input),
 * every output token at the dearest output rate, each image at the dearest per-image price the
 * known size/quality allow, plus the request fee; rounded up.
 */
export function worstCaseCost(price: CompiledPrice, estimate: WorstCaseEstimate, multiplier: Multiplier = ONE): bigint {
  checkMultiplier(multiplier);
  const inTok = checkCount('max_input_tokens', estimate.max_input_tokens);
  const outTok = checkCount('max_output_tokens', estimate.max_output_tokens);
  const images = checkCount('images', estimate.images);
  // The same base-rate defaults as priceUsage.
  const input = price.input_per_mtok;
  const output = price.output_per_mtok;
  const inRate = maxOf(input, price.cached_input_per_mtok ?? input, price.cache_write_per_mtok ?? input, price.image_input_per_mtok ?? input);
  const outRate = maxOf(output, price.image_output_per_mtok ?? output);
  let numerator = inTok * inRate + outTok * outRate;
  if (images > 0n) numerator += images * maxImagePrice(price, estimate.image_size, estimate.image_quality) * MTOK;
  if (price.per_request !== null) numerator += price.per_request * MTOK;
  return mulDivCeil(numerator, multiplier.num, MTOK * multiplier.den);
}
