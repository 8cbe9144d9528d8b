import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePrice, PriceSpecSchema, type PriceSpec } from '../../../src/catalog/price-book.ts';
import {
  lookupImagePrice,
  maxImagePrice,
  priceUsage,
  worstCaseCost,
} from '../../../src/billing/pricing.ts';
import { parseDecimalRatio, parseUsd } from '../../../src/kernel/money.ts';
import { billableUsage } from '../../../src/providers/billable.ts';

const usage = billableUsage;

// the demo price book (DESIGN.md "Demo models and prices")
const gpt4oMini = compilePrice({ input_per_mtok: '0.15', cached_input_per_mtok: '0.075', output_per_mtok: '0.60' });
const claude = compilePrice({ input_per_mtok: '3', cache_write_per_mtok: '3.75', cached_input_per_mtok: '0.30', output_per_mtok: '15' });
const gemini = compilePrice({ input_per_mtok: '0.30', output_per_mtok: '2.50' });
const embed = compilePrice({ input_per_mtok: '0.02' });
const gptImage = compilePrice({
  per_image: { default: '0.042', '1024x1024/low': '0.011', '1024x1024/medium': '0.042', '1024x1024/high': '0.167' },
});
const nanoBanana = compilePrice({ per_request: '0.09', per_image: { default: '0', '4K': '0.15' } });

test('compilePrice converts to nanos per 1M tokens', () => {
  assert.equal(gpt4oMini.input_per_mtok, 150_000_000n);
  assert.equal(gpt4oMini.cached_input_per_mtok, 75_000_000n);
  assert.equal(gpt4oMini.output_per_mtok, 600_000_000n);
  assert.equal(gpt4oMini.cache_write_per_mtok, null);
  assert.equal(gpt4oMini.per_image, null);
  assert.equal(gpt4oMini.billed_on_moderation, false);
  assert.equal(nanoBanana.per_image?.get('4k'), 150_000_000n);
  assert.ok(Object.isFrozen(gpt4oMini));
});

test('PriceSpecSchema rejects bad specs', () => {
  const bad: unknown[] = [
    {},
    { billed_on_moderation: true },
    { input_per_mtok: 0.15 },
    { input_per_mtok: '1e-3' },
    { input_per_mtok: '-1' },
    { input_per_mtok: '0.0000000001' },
    { input_per_mtok: '0.15', ouptut_per_mtok: '0.60' }, // typo must not silently make output free
    { per_image: { '1024x1024/high': '0.167' } }, // no default
    { per_image: { default: '0.04', HIGH: '0.1', high: '0.2' } }, // duplicate, case-insensitive
    { per_image: { default: '0.04', 'a/b/c': '0.1' } },
    { per_image: { default: '0.04', '': '0.1' } },
    { per_request: '0.09', billed_on_moderation: 'yes' },
  ];
  for (const spec of bad) {
    assert.equal(PriceSpecSchema.safeParse(spec).success, false, JSON.stringify(spec));
    assert.throws(() => compilePrice(spec as PriceSpec), JSON.stringify(spec));
  }
  const r = PriceSpecSchema.safeParse({ input_per_mtok: '1e-3' });
  assert.ok(!r.success && /exponent/.test(r.error.issues[0].message));
  assert.equal(PriceSpecSchema.safeParse({ per_request: '0' }).success, true);
});

test('rounding happens once, on the total', () => {
  // $0.15 per 1M tokens is 150 nano-USD per token: no fraction. Fractions of a nano-USD appear
  // with prices below $0.001/M or with multipliers; $0.00015/M is 0.15 nano-USD per token.
  assert.equal(priceUsage(gpt4oMini, usage({ input_tokens: 1 })), 150n);
  const tiny = compilePrice({ input_per_mtok: '0.00015', cached_input_per_mtok: '0.000075', output_per_mtok: '0.0006' });
  assert.equal(priceUsage(tiny, usage({ input_tokens: 1 })), 0n); // 0.15
  assert.equal(priceUsage(tiny, usage({ input_tokens: 7 })), 1n); // 1.05
  assert.equal(priceUsage(tiny, usage({ input_tokens: 3 })), 0n); // 0.45
  assert.equal(priceUsage(tiny, usage({ input_tokens: 10 })), 2n); // 1.5 → half away from zero
  // components are summed before rounding: 5 × 0.3 + 5 × 0.3 = 3.0 (per-line rounding would give 4)
  const p = compilePrice({ input_per_mtok: '0.0003', output_per_mtok: '0.0003' });
  assert.equal(priceUsage(p, usage({ input_tokens: 5, output_tokens: 5 })), 3n);
  // 1 input (0.15) + 1 cached (0.075) + 1 output (0.6) = 0.825 → 1
  assert.equal(priceUsage(tiny, usage({ input_tokens: 1, cached_input_tokens: 1, output_tokens: 1 })), 1n);
  // embeddings at $0.02/M: 20 nano-USD a token; with 0.333333333 multiplier 8 tokens = 53.33… → 53
  assert.equal(priceUsage(embed, usage({ input_tokens: 8 }), parseDecimalRatio('0.333333333')), 53n);
  // 0.5 exactly rounds away from zero
  assert.equal(priceUsage(compilePrice({ input_per_mtok: '0.0005' }), usage({ input_tokens: 1 })), 1n);
  assert.equal(priceUsage(compilePrice({ input_per_mtok: '0.000499999' }), usage({ input_tokens: 1 })), 0n);
});

test('demo prices', () => {
  // gpt-4o-mini: 1000 in, 500 cached, 200 out = 150000 + 37500 + 120000
  const r = priceUsage(gpt4oMini, usage({ input_tokens: 1000, cached_input_tokens: 500, output_tokens: 200, reasoning_tokens: 50 }));
  assert.equal(r, 307_500n);
  // each component at its own rate (reasoning is inside output, never priced on its own)
  assert.equal(priceUsage(gpt4oMini, usage({ input_tokens: 1000 })), 150_000n);
  assert.equal(priceUsage(gpt4oMini, usage({ cached_input_tokens: 500 })), 37_500n);
  assert.equal(priceUsage(gpt4oMini, usage({ output_tokens: 200, reasoning_tokens: 200 })), 120_000n);
  // claude-sonnet-5-5 with cache write and read
  const c = priceUsage(claude, usage({ input_tokens: 2095, cache_write_tokens: 2051, cached_input_tokens: 2051, output_tokens: 503 }));
  assert.equal(c, 6_285_000n + 7_691_250n + 615_300n + 7_545_000n);
  // gemini-2.5-flash: thinking is inside output_tokens
  assert.equal(priceUsage(gemini, usage({ input_tokens: 8, output_tokens: 1172, reasoning_tokens: 1052 })), 2_400n + 2_930_000n);
  // embeddings
  assert.equal(priceUsage(embed, usage({ input_tokens: 8 })), 160n);
  assert.equal(priceUsage(embed, usage({ input_tokens: 1_000_000 })), 20_000_000n);
  // gpt-image-1 per image
  const img = priceUsage(gptImage, usage({ images: 2, image_size: '1024x1024', image_quality: 'high', input_tokens: 50, image_output_tokens: 4160 }));
  assert.equal(img, 2n * 167_000_000n); // no input/output rate configured: its tokens are recorded, not charged
  // nano-banana-pro: per request, 4K billed higher
  assert.equal(priceUsage(nanoBanana, usage({ images: 1, image_size: '1k' })), 90_000_000n);
  assert.equal(priceUsage(nanoBanana, usage({ images: 1, image_size: '4k' })), 240_000_000n);
  assert.equal(priceUsage(nanoBanana, usage({})), 90_000_000n);
  assert.equal(priceUsage(nanoBanana, usage({ input_tokens: 1000, output_tokens: 1000 })), 90_000_000n); // the request fee alone
});

test('token-priced images use image rates, falling back to text rates', () => {
  const tokenImage = compilePrice({ input_per_mtok: '5', image_input_per_mtok: '10', image_output_per_mtok: '40' });
  const u = usage({ input_tokens: 10, image_input_tokens: 40, image_output_tokens: 4160, images: 1 });
  assert.equal(priceUsage(tokenImage, u), 50_000n + 400_000n + 166_400_000n);
  const fallback = compilePrice({ input_per_mtok: '0.30', output_per_mtok: '30' });
  assert.equal(priceUsage(fallback, usage({ input_tokens: 12, output_tokens: 9, image_output_tokens: 1290 })), 3_600n + 270_000n + 38_700_000n);
});

test('multiplier applies before the single rounding', () => {
  const tiny = compilePrice({ input_per_mtok: '0.00015' });
  assert.equal(priceUsage(tiny, usage({ input_tokens: 7 }), parseDecimalRatio('0.9')), 1n); // 1.05 × 0.9 = 0.945
  assert.equal(priceUsage(tiny, usage({ input_tokens: 10 }), parseDecimalRatio('0.5')), 1n); // 0.75
  assert.equal(priceUsage(tiny, usage({ input_tokens: 3 }), parseDecimalRatio('1.25')), 1n); // 0.45 → 0 alone, × 1.25 = 0.5625 → 1
  assert.equal(priceUsage(tiny, usage({ input_tokens: 3 }), parseDecimalRatio('1.1')), 0n); // 0.495
  assert.equal(priceUsage(gpt4oMini, usage({ input_tokens: 7 }), parseDecimalRatio('0.9')), 945n);
  assert.equal(priceUsage(gpt4oMini, usage({ input_tokens: 1000, output_tokens: 200 }), parseDecimalRatio('1.25')), 337_500n);
  assert.equal(priceUsage(gpt4oMini, usage({ input_tokens: 1000 }), parseDecimalRatio('0')), 0n);
  assert.equal(priceUsage(nanoBanana, usage({ images: 1, image_size: '4K' }), parseDecimalRatio('0.9')), 216_000_000n);
  assert.throws(() => priceUsage(gpt4oMini, usage({}), { num: 1n, den: 0n }), RangeError);
  assert.throws(() => priceUsage(gpt4oMini, usage({}), { num: -1n, den: 1n }), RangeError);
});

test('invalid counts are refused', () => {
  assert.throws(() => priceUsage(gpt4oMini, usage({ input_tokens: -1 })), RangeError);
  assert.throws(() => priceUsage(gpt4oMini, usage({ output_tokens: 1.5 })), RangeError);
  assert.throws(() => priceUsage(gpt4oMini, usage({ images: Number.NaN })), RangeError);
});

test('per_image lookup order: size/quality → size → quality → default', () => {
  const p = compilePrice({
    per_image: {
      default: '0.04',
      '1024x1024/low': '0.011',
      '1024x1024': '0.05',
      high: '0.2',
      '4K': '0.24',
      '1536x1024/HIGH': '0.25',
    },
  });
  const n = (s: string) => parseUsd(s);
  assert.equal(lookupImagePrice(p, '1024x1024', 'low'), n('0.011'));
  assert.equal(lookupImagePrice(p, '1024X1024', 'LOW'), n('0.011')); // case-insensitive
  assert.equal(lookupImagePrice(p, '1024x1024', 'medium'), n('0.05')); // size
  assert.equal(lookupImagePrice(p, '1024x1024', 'high'), n('0.05')); // size before quality
  assert.equal(lookupImagePrice(p, '1536x1024', 'high'), n('0.25'));
  assert.equal(lookupImagePrice(p, '1024x1536', 'high'), n('0.2')); // quality
  assert.equal(lookupImagePrice(p, '1024x1536', 'medium'), n('0.04')); // default
  assert.equal(lookupImagePrice(p, '4k', undefined), n('0.24'));
  assert.equal(lookupImagePrice(p, undefined, 'high'), n('0.2'));
  assert.equal(lookupImagePrice(p, undefined, undefined), n('0.04'));
  assert.equal(lookupImagePrice(gpt4oMini, '1024x1024', 'low'), null);

  // upper bounds for unknown parts
  assert.equal(maxImagePrice(p, '1024x1024', 'low'), n('0.011'));
  assert.equal(maxImagePrice(p, '1024x1024', undefined), n('0.05')); // "1024x1024/*" or "1024x1024"
  assert.equal(maxImagePrice(p, '1536x1024', undefined), n('0.25'));
  assert.equal(maxImagePrice(p, '1024x1536', 'auto'), n('0.24')); // any single key could match as quality
  assert.equal(maxImagePrice(p, undefined, 'low'), n('0.24'));
  assert.equal(maxImagePrice(p, 'auto', 'high'), n('0.25'));
  assert.equal(maxImagePrice(p, undefined, undefined), n('0.25'));
  assert.equal(maxImagePrice(gpt4oMini, undefined, undefined), 0n);
});

test('worst case is never below the actual cost for the same inputs', () => {
  const books = [gpt4oMini, claude, gemini, embed, gptImage, nanoBanana,
    compilePrice({ input_per_mtok: '5', image_input_per_mtok: '10', image_output_per_mtok: '40', per_image: { default: '0.01', '1024x1024/high': '0.3', low: '0.02', '4k': '0.5' } }),
    compilePrice({ input_per_mtok: '0.000000001', output_per_mtok: '0.000000003', per_request: '0.000000001' })];
  const sizes = [undefined, '1024x1024', '1536x1024', '4k', 'auto'];
  const qualities = [undefined, 'low', 'high', 'medium', 'auto'];
  const mults = [undefined, parseDecimalRatio('0.9'), parseDecimalRatio('1.25'), parseDecimalRatio('0.333333333')];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const price = books[rnd(books.length)];
    const maxIn = rnd(5) === 0 ? rnd(10) : rnd(2_000_000);
    const maxOut = rnd(5) === 0 ? rnd(10) : rnd(200_000);
    const images = rnd(4);
    const size = sizes[rnd(sizes.length)];
    const quality = qualities[rnd(qualities.length)];
    const m = mults[rnd(mults.length)];
    const worst = worstCaseCost(price, { max_input_tokens: maxIn, max_output_tokens: maxOut, images, image_size: size, image_quality: quality }, m);
    // any split of the input across categories and of the output across text/image
    const a = rnd(maxIn + 1);
    const b = rnd(maxIn - a + 1);
    const c = rnd(maxIn - a - b + 1);
    const d = maxIn - a - b - c;
    const o1 = rnd(maxOut + 1);
    // unknown (or auto) parts may turn out to be anything the upstream reports
    const actualSize = size === undefined || size === 'auto' ? sizes[1 + rnd(3)] : size;
    const actualQuality = quality === undefined || quality === 'auto' ? qualities[1 + rnd(3)] : quality;
    const u = usage({
      input_tokens: a, cached_input_tokens: b, cache_write_tokens: c, image_input_tokens: d,
      output_tokens: o1, image_output_tokens: maxOut - o1, reasoning_tokens: Math.floor(o1 / 2),
      images, image_size: actualSize, image_quality: actualQuality,
    });
    const actual = priceUsage(price, u, m);
    assert.ok(worst >= actual, `worst ${worst} < actual ${actual} (case ${i})`);
  }
  // the bound is tight for a plain text model
  assert.equal(worstCaseCost(gpt4oMini, { max_input_tokens: 1000, max_output_tokens: 200, images: 0 }), 150_000n + 120_000n);
  assert.equal(worstCaseCost(compilePrice({ input_per_mtok: '0.00015' }), { max_input_tokens: 1, max_output_tokens: 0, images: 0 }), 1n); // 0.15 rounded up
  assert.equal(worstCaseCost(claude, { max_input_tokens: 1000, max_output_tokens: 0, images: 0 }), 3_750_000n); // at the cache-write rate
  assert.equal(worstCaseCost(gptImage, { max_input_tokens: 100, max_output_tokens: 0, images: 2 }), 2n * 167_000_000n);
  assert.equal(worstCaseCost(gptImage, { max_input_tokens: 100, max_output_tokens: 0, images: 2, image_size: '1024x1024', image_quality: 'low' }), 22_000_000n);
  assert.equal(worstCaseCost(nanoBanana, { max_input_tokens: 0, max_output_tokens: 0, images: 1 }), 240_000_000n);
});

test('moderation billing policy is the price flag itself', () => {
  assert.equal(gpt4oMini.billed_on_moderation, false);
  assert.equal(compilePrice({ per_request: '0.09', billed_on_moderation: true }).billed_on_moderation, true);
  assert.equal(compilePrice({ per_request: '0.09', billed_on_moderation: false }).billed_on_moderation, false);
});

test('a token category without its own rate is billed at its base rate, never free', () => {
  // docs/pricing.md: an OpenAI model with cached input priced and cache writes not (GPT-5.6 reports them)
  const openaiModel = compilePrice({ input_per_mtok: '1.25', cached_input_per_mtok: '0.125' });
  assert.equal(priceUsage(openaiModel, usage({ input_tokens: 1000, cached_input_tokens: 500, cache_write_tokens: 2000 })), 1_250_000n + 62_500n + 2_500_000n);
  // gemini-2.5-flash has no cached rate configured: cached tokens at the input rate
  assert.equal(priceUsage(gemini, usage({ cached_input_tokens: 20000 })), 20000n * 300n);
  // a cache-write rate of its own wins; so does an explicit "0"
  assert.equal(priceUsage(claude, usage({ cache_write_tokens: 1000 })), 3_750_000n);
  assert.equal(priceUsage(compilePrice({ input_per_mtok: '3', cache_write_per_mtok: '0' }), usage({ cache_write_tokens: 1000 })), 0n);
  // image tokens at the text rates
  assert.equal(priceUsage(openaiModel, usage({ image_input_tokens: 1000 })), 1_250_000n);
  // no base rate: nothing to fall back on (a per-image model)
  assert.equal(priceUsage(gptImage, usage({ cached_input_tokens: 1000, cache_write_tokens: 1000 })), 0n);
  // the hold covers it: worst case at the dearest of the defaulted rates
  assert.equal(worstCaseCost(openaiModel, { max_input_tokens: 1000, max_output_tokens: 0, images: 0 }), 1_250_000n);
});
