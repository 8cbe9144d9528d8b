/**
 * Gemini `usageMetadata`, delivered content and blocks of JSON responses. The mapping is
 * documented in docs/pricing.md; the raw usage object is returned verbatim next to it.
 */
import { addJson, addText, billableUsage, newDelivered, withImages } from '../billable.ts';
import { count, isObj, listed, unknownUsage, type Obj, type UsageSpec } from '../json.ts';
import type { ResponseFacts } from '../provider.ts';
import type { BillableUsage, Delivered, Endpoint, ImageRequestParams } from '../types.ts';

/** Modalities priced as text tokens. AUDIO is priced apart by Google (and has no price here). */
const TEXT_PRICED = new Set(['TEXT', 'IMAGE', 'VIDEO', 'DOCUMENT', 'MODALITY_UNSPECIFIED']);

/** A `*TokensDetails` list of {modality, tokenCount}: an unknown or unpriced modality with tokens is listed. */
function modalities(v: unknown, at: string, out: Set<string>): void {
  if (!Array.isArray(v)) return;
  for (const d of v) {
    if (!isObj(d)) continue;
    unknownUsage(d, { modality: 'info', tokenCount: 'info' }, out, at);
    if (typeof d.modality === 'string' && !TEXT_PRICED.has(d.modality) && (count(d.tokenCount) ?? 0) > 0) out.add(`${at}.${d.modality}`);
  }
}

/** The usageMetadata fields Google documents (GenerateContentResponse.UsageMetadata; `trafficType` on Vertex AI). */
export const USAGE: UsageSpec = {
  promptTokenCount: 'count',
  cachedContentTokenCount: 'count',
  candidatesTokenCount: 'count',
  toolUsePromptTokenCount: 'count',
  thoughtsTokenCount: 'count',
  totalTokenCount: 'info',
  promptTokensDetails: modalities,
  cacheTokensDetails: modalities,
  candidatesTokensDetails: modalities,
  toolUsePromptTokensDetails: modalities,
  trafficType: 'info',
};

export function usageNotKnown(raw: unknown): string[] {
  return listed(unknownUsage(raw, USAGE));
}

function modalityTokens(details: unknown, modality: string): number {
  if (!Array.isArray(details)) return 0;
  let n = 0;
  for (const d of details) if (isObj(d) && d.modality === modality) n += count(d.tokenCount) ?? 0;
  return n;
}

/**
 * `usageMetadata`. `promptTokenCount` INCLUDES `cachedContentTokenCount`; `toolUsePromptTokenCount`
 * (tool results fed back to the model) is on top of it: input = prompt − cached + toolUse, cached =
 * cachedContentTokenCount. Output = candidatesTokenCount + thoughtsTokenCount (Google bills thinking
 * as output); output tokens of the IMAGE modality go to image_output_tokens. Gemini omits
 * zero-valued fields, so a missing count is 0.
 */
export function mapUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.promptTokenCount);
  const candidates = count(u.candidatesTokenCount);
  const thoughts = count(u.thoughtsTokenCount);
  const total = count(u.totalTokenCount);
  if (prompt === undefined && candidates === undefined && thoughts === undefined && total === undefined) return null;
  const p = prompt ?? 0;
  const cached = Math.min(count(u.cachedContentTokenCount) ?? 0, p);
  const c = candidates ?? 0;
  const t = thoughts ?? 0;
  const imageOut = Math.min(modalityTokens(u.candidatesTokensDetails, 'IMAGE'), c);
  const b = billableUsage({
    input_tokens: p - cached + (count(u.toolUsePromptTokenCount) ?? 0),
    cached_input_tokens: cached,
    output_tokens: c - imageOut + t,
    reasoning_tokens: t,
  });
  if (imageOut > 0) b.image_output_tokens = imageOut;
  return b;
}

/** embedContent reports no usage today; `usageMetadata` is read if an upstream sends it. */
export function mapEmbeddingsUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const prompt = count(u.promptTokenCount) ?? count(u.totalTokenCount);
  return prompt === undefined ? null : billableUsage({ input_tokens: prompt });
}

/**
 * Finish reasons that mean Google withheld the content on policy (safety, blocklists, personal
 * data, recitation of copyrighted text or images).
 */
const BLOCKED = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/**
 * Gemini's refusal marker, the same for a response and for a stream chunk: a blocked prompt
 * (`promptFeedback.blockReason`) or a candidate that finished on a block reason.
 */
export function blocked(o: Obj): boolean {
  if (isObj(o.promptFeedback) && typeof o.promptFeedback.blockReason === 'string' && o.promptFeedback.blockReason !== '') return true;
  return Array.isArray(o.candidates) && o.candidates.some((c) => isObj(c) && typeof c.finishReason === 'string' && BLOCKED.has(c.finishReason));
}

function isImageInline(p: Obj): boolean {
  const inline = isObj(p.inlineData) ? p.inlineData : isObj(p.inline_data) ? p.inline_data : undefined;
  if (inline === undefined) return false;
  const mime = inline.mimeType ?? inline.mime_type;
  return typeof mime === 'string' && mime.startsWith('image/') && typeof inline.data === 'string' && inline.data.length > 0;
}

/** Candidate parts of a response or a stream chunk: text (thought summaries included), function calls, inline images. */
export function addCandidates(o: Obj, d: Delivered): void {
  if (!Array.isArray(o.candidates)) return;
  for (const c of o.candidates) {
    if (!isObj(c) || !isObj(c.content) || !Array.isArray(c.content.parts)) continue;
    for (const p of c.content.parts) {
      if (!isObj(p)) continue;
      if (typeof p.text === 'string') addText(d, p.text);
      else if (isObj(p.functionCall)) addJson(d, p.functionCall.args);
      else if (isImageInline(p)) d.images++;
    }
  }
}

/** Blocked, unless an image was delivered anyway (it is billed as delivered). */
export function refused(sawBlock: boolean, d: Delivered): boolean {
  return sawBlock && d.images === 0;
}

export function readResponse(endpoint: Endpoint, json: unknown, image: ImageRequestParams): ResponseFacts {
  const delivered = newDelivered();
  if (!isObj(json)) return { raw: null, billable: null, delivered, refused: false, unknownUsage: [] };
  const raw = json.usageMetadata ?? null;
  const unknown = usageNotKnown(raw);
  if (endpoint === 'embeddings') return { raw, billable: mapEmbeddingsUsage(raw), delivered, refused: false, unknownUsage: unknown };
  addCandidates(json, delivered);
  let billable = mapUsage(raw);
  if (endpoint === 'images') billable = withImages(billable, delivered.images, image);
  return { raw, billable, delivered, refused: refused(blocked(json), delivered), unknownUsage: unknown };
}
