/**
 * Gemini requests (generateContent, streamGenerateContent; embedContent bodies): what Surety reads
 * from them, validated, and the input text walk. The API accepts camelCase and snake_case field
 * names alike (`generationConfig` / `generation_config`, `maxOutputTokens` / `max_output_tokens`).
 */
import { isObj, type Obj } from '../json.ts';
import type { Operation, RequestFacts, RequestLimits } from '../provider.ts';
import { MAX_OUTPUT_TOKENS, checkNesting, fail, given, readInt, readObject, readObjects, readString } from '../request.ts';
import { inputTokensOf, visitJson, type Visit } from '../tokens.ts';
import type { Endpoint, ImageRequestParams } from '../types.ts';

/** Most candidates one request may ask for (as OpenAI's `n`). */
const MAX_CANDIDATES = 128;

function contentText(content: unknown, visit: Visit): void {
  if (!isObj(content) || !Array.isArray(content.parts)) return;
  for (const p of content.parts) {
    if (!isObj(p)) continue;
    if (typeof p.text === 'string') visit(p.text);
    else if (isObj(p.functionCall)) visitJson(p.functionCall, visit);
    else if (isObj(p.functionResponse)) visitJson(p.functionResponse, visit);
  }
}

/** One of two spellings of a field. */
function either(o: Obj, camel: string, snake: string): { key: string; value: unknown } {
  return given(o[camel]) ? { key: camel, value: o[camel] } : { key: snake, value: o[snake] };
}

export function generationConfig(body: Obj): Obj | undefined {
  const gc = either(body, 'generationConfig', 'generation_config');
  return isObj(gc.value) ? gc.value : undefined;
}

/** The input text: system instruction, contents (text and function calls/responses), function declarations. */
export function walkRequest(endpoint: Endpoint, body: unknown, visit: Visit): void {
  if (!isObj(body)) return;
  if (endpoint === 'embeddings') {
    contentText(body.content, visit);
    if (Array.isArray(body.requests)) for (const r of body.requests) if (isObj(r)) contentText(r.content, visit);
    return;
  }
  contentText(body.systemInstruction ?? body.system_instruction, visit);
  if (Array.isArray(body.contents)) for (const c of body.contents) contentText(c, visit);
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (!isObj(t)) continue;
      const decls = t.functionDeclarations ?? t.function_declarations;
      if (decls !== undefined) visitJson(decls, visit);
    }
  }
}

export function inputTokens(endpoint: Endpoint, body: unknown): number {
  return inputTokensOf(walkRequest, endpoint, body);
}

/** A Content: an object whose `parts` is an array of objects. */
function checkContent(v: unknown, field: string): void {
  if (!isObj(v)) fail(field, 'must be an object');
  readObjects(v.parts, `${field}.parts`);
}

function checkGeneration(body: Obj): void {
  const contents = readObjects(body.contents, 'contents', true)!;
  for (let i = 0; i < contents.length; i++) checkContent(contents[i], `contents.${i}`);
  const system = either(body, 'systemInstruction', 'system_instruction');
  if (given(system.value)) checkContent(system.value, system.key);
  readObjects(body.tools, 'tools');
}

/** maxOutputTokens × candidateCount, and the image size, from generationConfig (either spelling). */
function readGenerationConfig(body: Obj, facts: RequestFacts, images: boolean): void {
  const gcKey = either(body, 'generationConfig', 'generation_config').key;
  const gc = readObject(body, gcKey);
  if (gc === undefined) return;
  const max = either(gc, 'maxOutputTokens', 'max_output_tokens');
  const candidates = either(gc, 'candidateCount', 'candidate_count');
  const m = readInt(gc, max.key, 1, MAX_OUTPUT_TOKENS, false, `${gcKey}.${max.key}`);
  const n = readInt(gc, candidates.key, 1, MAX_CANDIDATES, false, `${gcKey}.${candidates.key}`) ?? 1;
  if (m !== undefined) facts.maxOutputTokens = m * n;
  const icKey = either(gc, 'imageConfig', 'image_config').key;
  const ic = readObject(gc, icKey, `${gcKey}.${icKey}`);
  if (!images || ic === undefined) return;
  const sizeKey = either(ic, 'imageSize', 'image_size').key;
  const size = readString(ic, sizeKey, `${gcKey}.${icKey}.${sizeKey}`);
  if (size !== undefined) facts.image = { size } satisfies ImageRequestParams;
}

/** The model is named by the path, not the body; streaming by the method (streamGenerateContent). */
export function readRequest(endpoint: Endpoint, operation: Operation, body: Obj, _limits: RequestLimits): RequestFacts {
  checkNesting(body);
  const facts: RequestFacts = { stream: operation === 'streamGenerateContent', image: {}, inputTokens: 0 };
  if (endpoint === 'embeddings') {
    if (given(body.content)) checkContent(body.content, 'content');
    const requests = readObjects(body.requests, 'requests') ?? [];
    for (let i = 0; i < requests.length; i++) if (given(requests[i]!.content)) checkContent(requests[i]!.content, `requests.${i}.content`);
    facts.maxOutputTokens = 0;
  } else {
    checkGeneration(body);
    readGenerationConfig(body, facts, endpoint === 'images');
  }
  facts.inputTokens = inputTokens(endpoint, body);
  return facts;
}
