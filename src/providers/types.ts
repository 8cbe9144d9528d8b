/**
 * Endpoint families:
 * - `chat`: OpenAI chat completions, Anthropic messages, Gemini generateContent/streamGenerateContent
 * - `embeddings`: OpenAI embeddings (Gemini embedContent where it reports usage)
 * - `images`: OpenAI images generations/edits, Gemini image models through generateContent
 */
export type Endpoint = 'chat' | 'embeddings' | 'images';

/**
 * Usage in the units prices are expressed in, derived from (never replacing) the upstream's raw
 * usage object. All counts are non-negative integers. The categories are disjoint — nothing is
 * counted twice — except `reasoning_tokens`, which is informational and already inside
 * `output_tokens` (it is never priced on its own). See docs/pricing.md for each provider's mapping.
 */
export interface BillableUsage {
  /** Uncached input tokens, billed at `input_per_mtok`. */
  input_tokens: number;
  /** Input tokens read from a prompt cache, billed at `cached_input_per_mtok`. */
  cached_input_tokens: number;
  /** Input tokens written to a prompt cache (Anthropic; OpenAI from GPT-5.6), billed at `cache_write_per_mtok`. */
  cache_write_tokens: number;
  /** Output tokens including reasoning/thinking tokens, billed at `output_per_mtok`. */
  output_tokens: number;
  /** Of `output_tokens`, how many were reasoning/thinking tokens (informational). */
  reasoning_tokens: number;
  /** Images delivered and billable, billed at the matching `per_image` price. */
  images: number;
  /** Size used for the `per_image` lookup, lower-cased ("1024x1024", "4k"). */
  image_size?: string;
  /** Quality used for the `per_image` lookup, lower-cased ("low", "high"). */
  image_quality?: string;
  /** Input image tokens of token-priced image models (gpt-image-1), billed at `image_input_per_mtok`. */
  image_input_tokens?: number;
  /** Output image tokens (gpt-image-1, Gemini IMAGE modality), billed at `image_output_per_mtok`. */
  image_output_tokens?: number;
  /** True when Surety estimated the counts because the upstream reported none. */
  estimated: boolean;
}

/** What a response delivered to the client, counted independently of reported usage. */
export interface Delivered {
  /** Images delivered (OpenAI `data[]` entries with b64_json/url; Gemini inlineData image parts). */
  images: number;
  /** Characters (UTF-16 code units) of delivered text: content, refusals, reasoning, tool arguments. */
  text_chars: number;
  /** UTF-8 bytes of the same text, the basis of token estimation. */
  text_bytes: number;
}

export interface UsageResult {
  /** The upstream's usage object, verbatim (same reference, not a copy), or null when absent. */
  raw: unknown | null;
  /** Billable usage derived from `raw` (and delivered images), or null when nothing can be derived. */
  billable: BillableUsage | null;
  delivered: Delivered;
}

/** Request parameters that affect image billing. */
export interface ImageRequestParams {
  /** Number of images asked for; delivered images above it are not billed. */
  n?: number;
  size?: string;
  quality?: string;
}
