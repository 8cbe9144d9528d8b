/**
 * Billable usage from upstream responses. The mapping of each provider's usage fields is
 * documented in docs/pricing.md; the raw usage object is returned verbatim next to it.
 */
import { Buffer } from 'node:buffer';
import type { BillableUsage, Delivered, Endpoint, ImageRequestParams, Protocol, UsageResult } from './types.ts';

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A usage count: a non-negative safe integer, else undefined (absent or garbage). */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

function sub(a: number, b: number): number {
  return a > b ? a - b : 0;
}

function lower(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim().toLowerCase();
  return t === '' ? undefined : t;
}

export function newDelivered(): Delivered {
  return { images: 0, text_chars: 0, text_bytes: 0 };
}

export function addText(d: Delivered, s: unknown): void {
  if (typeof s !== 'string' || s.length === 0) return;
  d.text_chars += s.length;
  d.text_bytes += Buffer.byteLength(s, 'utf8');
}

function addJson(d: Delivered, v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'string') return addText(d, v);
  try {
    addText(d, JSON.stringify(v));
  } catch {
    /* unserialisable: ignore */
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

// ---------------------------------------------------------------------------------------------
// Usage mappings (raw usage object → billable usage, or null when it carries no counts)
// ---------------------------------------------------------------------------------------------

/**
 * OpenAI chat completions `usage`. `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens`,
 * so input = prompt − cached and cached = cached. `completion_tokens` includes reasoning tokens
 * (and accepted/rejected prediction tokens), all billed as output.
 */
export function mapOpenAIChatUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  if (prompt === undefined && completion === undefined) return null;
  const p = prompt ?? 0;
  const c = completion ?? 0;
  const pd = isObj(u.prompt_tokens_details) ? u.prompt_tokens_details : undefined;
  const cd = isObj(u.completion_tokens_details) ? u.completion_tokens_details : undefined;
  const cached = Math.min(count(pd?.cached_tokens) ?? 0, p);
  const b = billableUsage();
  b.input_tokens = p - cached;
  b.cached_input_tokens = cached;
  b.output_tokens = c;
  b.reasoning_tokens = Math.min(count(cd?.reasoning_tokens) ?? 0, c);
  return b;
}

/** OpenAI embeddings `usage`: input = prompt_tokens (total_tokens when prompt_tokens is absent). */
export function mapOpenAIEmbeddingsUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.prompt_tokens) ?? count(u.total_tokens);
  if (prompt === undefined) return null;
  const b = billableUsage();
  b.input_tokens = prompt;
  return b;
}

/**
 * OpenAI images `usage` (gpt-image-1): input text tokens → input_tokens, input image tokens →
 * image_input_tokens, output tokens → image_output_tokens (the output is the image), or split by
 * `output_tokens_details` when present. Returns token counts only; images are added by the caller.
 */
export function mapOpenAIImagesUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  if (input === undefined && output === undefined) return null;
  const i = input ?? 0;
  const o = output ?? 0;
  const b = billableUsage();
  const id = isObj(u.input_tokens_details) ? u.input_tokens_details : undefined;
  const textIn = count(id?.text_tokens);
  const imageIn = count(id?.image_tokens);
  if (textIn === undefined && imageIn === undefined) {
    b.input_tokens = i;
    b.image_input_tokens = 0;
  } else {
    b.image_input_tokens = Math.min(imageIn ?? sub(i, textIn ?? 0), i);
    b.input_tokens = textIn !== undefined ? Math.min(textIn, i - b.image_input_tokens) : i - b.image_input_tokens;
  }
  const od = isObj(u.output_tokens_details) ? u.output_tokens_details : undefined;
  const textOut = count(od?.text_tokens);
  const imageOut = count(od?.image_tokens);
  if (textOut === undefined && imageOut === undefined) {
    b.output_tokens = 0;
    b.image_output_tokens = o;
  } else {
    b.image_output_tokens = Math.min(imageOut ?? sub(o, textOut ?? 0), o);
    b.output_tokens = o - b.image_output_tokens;
  }
  return b;
}

/**
 * Anthropic messages `usage`. `input_tokens` EXCLUDES cache reads and writes: input = input_tokens,
 * cached = cache_read_input_tokens, cache_write = cache_creation_input_tokens (5-minute and 1-hour
 * writes together), output = output_tokens (thinking included; Anthropic reports no split).
 */
export function mapAnthropicUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  const read = count(u.cache_read_input_tokens);
  const write = count(u.cache_creation_input_tokens);
  if (input === undefined && output === undefined && read === undefined && write === undefined) return null;
  const b = billableUsage();
  b.input_tokens = input ?? 0;
  b.cached_input_tokens = read ?? 0;
  b.cache_write_tokens = write ?? 0;
  b.output_tokens = output ?? 0;
  return b;
}

function modalityTokens(details: unknown, modality: string): number {
  if (!Array.isArray(details)) return 0;
  let n = 0;
  for (const d of details) {
    if (isObj(d) && d.modality === modality) n += count(d.tokenCount) ?? 0;
  }
  return n;
}

/**
 * Gemini `usageMetadata`. `promptTokenCount` INCLUDES `cachedContentTokenCount`: input = prompt −
 * cached + toolUsePromptTokenCount, cached = cachedContentTokenCount. Output = candidatesTokenCount
 * + thoughtsTokenCount (Google bills thinking as output); output tokens of the IMAGE modality
 * (candidatesTokensDetails) go to image_output_tokens. Gemini omits zero-valued fields.
 */
export function mapGeminiUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.promptTokenCount);
  const candidates = count(u.candidatesTokenCount);
  const thoughts = count(u.thoughtsTokenCount);
  const total = count(u.totalTokenCount);
  if (prompt === undefined && candidates === undefined && thoughts === undefined && total === undefined) return null;
  const p = prompt ?? 0;
  const cached = Math.min(count(u.cachedContentTokenCount) ?? 0, p);
  const toolUse = count(u.toolUsePromptTokenCount) ?? 0;
  const c = candidates ?? 0;
  const t = thoughts ?? 0;
  const imageOut = Math.min(modalityTokens(u.candidatesTokensDetails, 'IMAGE'), c);
  const b = billableUsage();
  b.input_tokens = p - cached + toolUse;
  b.cached_input_tokens = cached;
  b.output_tokens = c - imageOut + t;
  b.reasoning_tokens = t;
  if (imageOut > 0) b.image_output_tokens = imageOut;
  return b;
}

/** Gemini embeddings: embedContent reports no usage today; accept `usageMetadata` if sent. */
export function mapGeminiEmbeddingsUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.promptTokenCount) ?? count(u.totalTokenCount);
  if (prompt === undefined) return null;
  const b = billableUsage();
  b.input_tokens = prompt;
  return b;
}

/**
 * Adds the image count and the size/quality used for the per-image price. Delivered images above
 * the requested `n` are not billed. Size and quality reported by the upstream win over requested.
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

// ---------------------------------------------------------------------------------------------
// Delivered content of non-streaming bodies
// ---------------------------------------------------------------------------------------------

function openaiChatDelivered(body: Obj, d: Delivered): void {
  if (!Array.isArray(body.choices)) return;
  for (const c of body.choices) {
    if (!isObj(c) || !isObj(c.message)) continue;
    const m = c.message;
    if (typeof m.content === 'string') addText(d, m.content);
    else if (Array.isArray(m.content)) for (const p of m.content) if (isObj(p)) addText(d, p.text);
    addText(d, m.refusal);
    addText(d, m.reasoning_content);
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) if (isObj(tc) && isObj(tc.function)) addText(d, tc.function.arguments);
    }
    if (isObj(m.function_call)) addText(d, m.function_call.arguments);
  }
}

function openaiImagesDelivered(body: Obj): number {
  if (!Array.isArray(body.data)) return 0;
  let n = 0;
  for (const item of body.data) {
    if (!isObj(item)) continue;
    if ((typeof item.b64_json === 'string' && item.b64_json.length > 0) || (typeof item.url === 'string' && item.url.length > 0)) n++;
  }
  return n;
}

function isImageInline(p: Obj): boolean {
  const inline = isObj(p.inlineData) ? p.inlineData : isObj(p.inline_data) ? p.inline_data : undefined;
  if (inline === undefined) return false;
  const mime = inline.mimeType ?? inline.mime_type;
  return typeof mime === 'string' && mime.startsWith('image/') && typeof inline.data === 'string' && inline.data.length > 0;
}

/** Counts Gemini candidate parts: text (thought summaries included), function calls, inline images. */
export function geminiDelivered(body: Obj, d: Delivered): void {
  if (!Array.isArray(body.candidates)) return;
  for (const c of body.candidates) {
    if (!isObj(c) || !isObj(c.content) || !Array.isArray(c.content.parts)) continue;
    for (const p of c.content.parts) {
      if (!isObj(p)) continue;
      if (typeof p.text === 'string') addText(d, p.text);
      else if (isObj(p.functionCall)) addJson(d, p.functionCall.args);
      else if (isImageInline(p)) d.images++;
    }
  }
}

function anthropicDelivered(body: Obj, d: Delivered): void {
  if (!Array.isArray(body.content)) return;
  for (const b of body.content) {
    if (!isObj(b)) continue;
    if (b.type === 'text') addText(d, b.text);
    else if (b.type === 'thinking') addText(d, b.thinking);
    else if (b.type === 'tool_use') addJson(d, b.input);
  }
}

/**
 * Usage of a non-streaming JSON response body. `raw` is the provider's usage object verbatim
 * (OpenAI/Anthropic `usage`, Gemini `usageMetadata`); `billable` is null when it is absent and,
 * for images, no image was delivered.
 */
export function extractUsage(
  protocol: Protocol,
  endpoint: Endpoint,
  responseJson: unknown,
  request?: ImageRequestParams,
): UsageResult {
  const delivered = newDelivered();
  if (!isObj(responseJson)) return { raw: null, billable: null, delivered };
  const body = responseJson;
  if (protocol === 'openai') {
    const raw = body.usage ?? null;
    if (endpoint === 'chat') {
      openaiChatDelivered(body, delivered);
      return { raw, billable: mapOpenAIChatUsage(raw), delivered };
    }
    if (endpoint === 'embeddings') return { raw, billable: mapOpenAIEmbeddingsUsage(raw), delivered };
    delivered.images = openaiImagesDelivered(body);
    const billable = withImages(mapOpenAIImagesUsage(raw), delivered.images, request, body);
    return { raw, billable, delivered };
  }
  if (protocol === 'anthropic') {
    if (endpoint !== 'chat') return { raw: null, billable: null, delivered };
    anthropicDelivered(body, delivered);
    const raw = body.usage ?? null;
    return { raw, billable: mapAnthropicUsage(raw), delivered };
  }
  // gemini
  const raw = body.usageMetadata ?? null;
  if (endpoint === 'embeddings') return { raw, billable: mapGeminiEmbeddingsUsage(raw), delivered };
  geminiDelivered(body, delivered);
  let billable = mapGeminiUsage(raw);
  if (endpoint === 'images') billable = withImages(billable, delivered.images, request);
  return { raw, billable, delivered };
}
