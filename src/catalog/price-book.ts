/**
 * The price of a model as operators configure it (USD decimal strings), and its compiled form
 * (bigint nano-USD) used on the hot path. Strings are parsed once, by `compilePrice`, at load.
 * See docs/pricing.md.
 */
import { z } from 'zod';
import { MoneyFormatError, parseUsd, type Nanos } from '../kernel/money.ts';

/** A non-negative USD decimal string ("0.15"), validated by `parseUsd`. Zero is allowed (free). */
const UsdString = z.string().superRefine((s, ctx) => {
  try {
    parseUsd(s, { allowZero: true });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof MoneyFormatError ? e.message : 'invalid amount' });
  }
});

/** A `per_image` key: "default", "size/quality", "size" or "quality" (matched case-insensitively). */
const ImageKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]+(?:\/[A-Za-z0-9._:-]+)?$/, 'per_image keys are "default", "size/quality", "size" or "quality", e.g. "1024x1024/high"');

export const PriceSpecSchema = z
  .strictObject({
    /** USD per 1M uncached input tokens. */
    input_per_mtok: UsdString.optional(),
    /** USD per 1M input tokens read from a prompt cache. */
    cached_input_per_mtok: UsdString.optional(),
    /** USD per 1M input tokens written to a prompt cache (Anthropic). */
    cache_write_per_mtok: UsdString.optional(),
    /** USD per 1M output tokens (reasoning/thinking tokens included). */
    output_per_mtok: UsdString.optional(),
    /** USD per billed request, whatever its usage. */
    per_request: UsdString.optional(),
    /** USD per delivered image by "size/quality", "size", "quality" or "default" (required). */
    per_image: z.record(ImageKey, UsdString).optional(),
    /** USD per 1M input image tokens (gpt-image-1); falls back to input_per_mtok when absent. */
    image_input_per_mtok: UsdString.optional(),
    /** USD per 1M output image tokens (gpt-image-1, Gemini image output); falls back to output_per_mtok. */
    image_output_per_mtok: UsdString.optional(),
    /** Whether a request refused by the upstream on content policy is billed (default false). */
    billed_on_moderation: z.boolean().optional(),
  })
  .superRefine((spec, ctx) => {
    const { billed_on_moderation: _policy, ...amounts } = spec;
    if (Object.values(amounts).every((v) => v === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a price needs at least one component (use per_request "0" for a free model)' });
    }
    if (spec.per_image !== undefined) {
      const seen = new Set<string>();
      for (const key of Object.keys(spec.per_image)) {
        const k = key.toLowerCase();
        if (seen.has(k)) ctx.addIssue({ code: 'custom', path: ['per_image', key], message: `duplicate per_image key "${key}" (keys are case-insensitive)` });
        seen.add(k);
      }
      if (!seen.has('default')) {
        ctx.addIssue({ code: 'custom', path: ['per_image'], message: 'per_image needs a "default" price for sizes and qualities not listed' });
      }
    }
  });

/** A model's price as configured (input of `PriceSpecSchema`). */
export type PriceSpec = z.input<typeof PriceSpecSchema>;

/**
 * A compiled price: every amount in nano-USD. Token prices are nano-USD per 1M tokens, so the
 * price of a single token (e.g. 0.15 nano-USD) stays exact until the once-per-request rounding.
 * `null` means "not configured" (billed as zero, shown as zero on price lines).
 */
export interface CompiledPrice {
  readonly input_per_mtok: Nanos | null;
  readonly cached_input_per_mtok: Nanos | null;
  readonly cache_write_per_mtok: Nanos | null;
  readonly output_per_mtok: Nanos | null;
  readonly per_request: Nanos | null;
  /** Lower-cased keys → nano-USD per image; always has "default" when not null. */
  readonly per_image: ReadonlyMap<string, Nanos> | null;
  readonly image_input_per_mtok: Nanos | null;
  readonly image_output_per_mtok: Nanos | null;
  readonly billed_on_moderation: boolean;
}

function amount(s: string | undefined): Nanos | null {
  return s === undefined ? null : parseUsd(s, { allowZero: true });
}

/** Validates (throws a ZodError on a bad spec) and compiles a price. Call once at load. */
export function compilePrice(spec: PriceSpec): CompiledPrice {
  const p = PriceSpecSchema.parse(spec);
  let perImage: Map<string, Nanos> | null = null;
  if (p.per_image !== undefined) {
    perImage = new Map();
    for (const [k, v] of Object.entries(p.per_image)) perImage.set(k.toLowerCase(), parseUsd(v, { allowZero: true }));
  }
  return Object.freeze({
    input_per_mtok: amount(p.input_per_mtok),
    cached_input_per_mtok: amount(p.cached_input_per_mtok),
    cache_write_per_mtok: amount(p.cache_write_per_mtok),
    output_per_mtok: amount(p.output_per_mtok),
    per_request: amount(p.per_request),
    per_image: perImage,
    image_input_per_mtok: amount(p.image_input_per_mtok),
    image_output_per_mtok: amount(p.image_output_per_mtok),
    billed_on_moderation: p.billed_on_moderation ?? false,
  });
}
