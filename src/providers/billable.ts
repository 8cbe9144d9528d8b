/**
 * Building billable usage and counting delivered content, shared by every provider module.
 * See docs/pricing.md for each provider's mapping.
 */
import { Buffer } from 'node:buffer';
import { count, lower } from './json.ts';
import { estimateTokensFromBytes } from './tokens.ts';
import type { BillableUsage, Delivered, ImageRequestParams } from './types.ts';

export function newDelivered(): Delivered {
  return { images: 0, text_chars: 0, text_bytes: 0 };
}

export function addText(d: Delivered, s: unknown): void {
  if (typeof s !== 'string' || s.length === 0) return;
  d.text_chars += s.length;
  d.text_bytes += Buffer.byteLength(s, 'utf8');
}

/** Delivered structured output (tool arguments): its JSON text. */
export function addJson(d: Delivered, v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'string') return addText(d, v);
  try {
    addText(d, JSON.stringify(v));
  } catch {
    /* unserialisable (too deep): not counted */
  }
}

/** A billable usage of zeros, with `u` on top. */
export function billableUsage(u: Partial<BillableUsage> = {}): BillableUsage {
  return {
    input_tokens: 0,
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    images: 0,
    estimated: false,
    ...u,
  };
}

/** a − b, never below 0. */
export function sub(a: number, b: number): number {
  return a > b ? a - b : 0;
}

export function sumBillable(a: BillableUsage | null, b: BillableUsage | null): BillableUsage | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    cached_input_tokens: a.cached_input_tokens + b.cached_input_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    images: a.images + b.images,
    image_input_tokens: (a.image_input_tokens ?? 0) + (b.image_input_tokens ?? 0),
    image_output_tokens: (a.image_output_tokens ?? 0) + (b.image_output_tokens ?? 0),
    estimated: a.estimated || b.estimated,
  };
}

/**
 * Adds the image count and the size/quality used for the per-image price. Delivered images above
 * the requested `n` (validated by readRequest) are not billed. Size and quality reported by the
 * upstream win over requested.
 */
export function withImages(
  billable: BillableUsage | null,
  delivered: number,
  request: ImageRequestParams | undefined,
  reported?: { size?: unknown; quality?: unknown },
): BillableUsage | null {
  const n = count(request?.n);
  const images = n !== undefined && n > 0 ? Math.min(delivered, n) : delivered;
  if (billable === null) {
    if (images === 0) return null;
    billable = billableUsage();
  }
  billable.images = images;
  const size = lower(reported?.size) ?? lower(request?.size);
  const quality = lower(reported?.quality) ?? lower(request?.quality);
  if (size !== undefined) billable.image_size = size;
  if (quality !== undefined) billable.image_quality = quality;
  return billable;
}

/**
 * The usage of a stream whose final usage never came (cut, or cancelled by the client): the counts
 * it reported so far are running totals or placeholders. Output is raised to at least the estimate
 * of the delivered text and the whole is marked estimated, the same for every provider, so that a
 * cancelled stream is billed from what was delivered.
 */
export function notFinal(b: BillableUsage, delivered: Delivered): BillableUsage {
  const est = estimateTokensFromBytes(delivered.text_bytes);
  if (est > b.output_tokens) b.output_tokens = est;
  b.estimated = true;
  return b;
}
