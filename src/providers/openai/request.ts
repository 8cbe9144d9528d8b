/**
 * OpenAI requests (chat completions, embeddings, images generations and edits): what Surety reads
 * from them, validated, and the input text estimation walks.
 */
import { isObj, type Obj } from '../json.ts';
import type { Operation, RequestFacts, RequestLimits } from '../provider.ts';
import {
  MAX_OUTPUT_TOKENS, checkNesting, fail, given, readBoolean, readInt, readModel, readObject, readObjects, readString, readTextOrBlocks,
} from '../request.ts';
import { inputTokensOf, visitJson, visitStr, type Visit } from '../tokens.ts';
import type { Endpoint, ImageRequestParams } from '../types.ts';
import { checkResponsesRequest, walkResponses } from './responses.ts';

/** OpenAI's documented maximum of chat choices (`n`). */
const MAX_CHOICES = 128;

function contentText(content: unknown, visit: Visit): void {
  if (typeof content === 'string') return visit(content);
  if (!Array.isArray(content)) return;
  for (const p of content) if (isObj(p)) visitStr(p.text, visit); // image/audio/file parts are not text
}

/** The input text of an OpenAI request: messages, tool traffic and definitions, the schema; or the embeddings input; or the image prompt. */
export function walkRequest(endpoint: Endpoint, body: unknown, visit: Visit): void {
  if (!isObj(body)) return;
  if (endpoint === 'embeddings') {
    const input = body.input;
    if (typeof input === 'string') visit(input);
    else if (Array.isArray(input)) for (const x of input) visitStr(x, visit); // token arrays: see inputTokens
    return;
  }
  if (endpoint === 'images') return visitStr(body.prompt, visit);
  if (body.input !== undefined && !Array.isArray(body.messages)) return walkResponses(body, visit);
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      if (!isObj(m)) continue;
      contentText(m.content, visit);
      visitStr(m.refusal, visit);
      if (Array.isArray(m.tool_calls)) {
        for (const tc of m.tool_calls) {
          if (!isObj(tc) || !isObj(tc.function)) continue;
          visitStr(tc.function.name, visit);
          visitStr(tc.function.arguments, visit);
        }
      }
      if (isObj(m.function_call)) visitStr(m.function_call.arguments, visit);
    }
  }
  if (Array.isArray(body.tools)) for (const t of body.tools) visitJson(isObj(t) && t.function !== undefined ? t.function : t, visit);
  if (Array.isArray(body.functions)) for (const f of body.functions) visitJson(f, visit);
  if (isObj(body.response_format) && body.response_format.json_schema !== undefined) visitJson(body.response_format.json_schema, visit);
}

/** Estimated input tokens, plus exact counts of pre-tokenised embeddings input (arrays of token ids). */
export function inputTokens(endpoint: Endpoint, body: unknown): number {
  let tokens = inputTokensOf(walkRequest, endpoint, body);
  if (endpoint === 'embeddings' && isObj(body) && Array.isArray(body.input)) {
    const input = body.input;
    if (input.length > 0 && typeof input[0] === 'number') tokens += input.length;
    else for (const x of input) if (Array.isArray(x)) tokens += x.length;
  }
  return tokens;
}

function isTokenId(x: unknown): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Embeddings `input`: a string, or an array of strings, of token ids, or of arrays of token ids. */
function checkEmbeddingsInput(input: unknown): void {
  if (!given(input)) fail('input', 'is required');
  if (typeof input === 'string') return;
  const problem = 'must be a string, an array of strings, an array of token ids or an array of arrays of token ids';
  if (!Array.isArray(input)) fail('input', problem);
  if (input.every((x) => typeof x === 'string') || input.every(isTokenId)) return;
  for (let i = 0; i < input.length; i++) {
    const x = input[i];
    if (!Array.isArray(x) || !x.every(isTokenId)) fail(`input.${i}`, problem);
  }
}

function checkMessages(body: Obj): void {
  const messages = readObjects(body.messages, 'messages', true)!;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    readTextOrBlocks(m.content, `messages.${i}.content`, 'content parts');
    readObjects(m.tool_calls, `messages.${i}.tool_calls`);
  }
  readObjects(body.tools, 'tools');
  readObjects(body.functions, 'functions');
  readObject(body, 'stream_options');
}

function imageParams(body: Obj, limits: RequestLimits, form: boolean): ImageRequestParams {
  const out: ImageRequestParams = { n: readInt(body, 'n', 1, limits.maxImages, form) ?? 1 };
  const size = readString(body, 'size');
  const quality = readString(body, 'quality');
  if (size !== undefined) out.size = size;
  if (quality !== undefined) out.quality = quality;
  return out;
}

export function readRequest(endpoint: Endpoint, operation: Operation, body: Obj, limits: RequestLimits, form = false): RequestFacts {
  const model = readModel(body);
  const stream = readBoolean(body, 'stream', form) ?? false;
  if (!form) checkNesting(body);
  const facts: RequestFacts = { model, stream, image: {}, inputTokens: 0 };
  if (operation === 'responses') {
    const max = checkResponsesRequest(body, form);
    if (max !== undefined) facts.maxOutputTokens = max;
  } else if (endpoint === 'chat') {
    checkMessages(body);
    const max = readInt(body, 'max_completion_tokens', 1, MAX_OUTPUT_TOKENS, form);
    const legacyMax = readInt(body, 'max_tokens', 1, MAX_OUTPUT_TOKENS, form);
    const n = readInt(body, 'n', 1, MAX_CHOICES, form) ?? 1;
    const m = max ?? legacyMax;
    if (m !== undefined) facts.maxOutputTokens = m * n;
  } else if (endpoint === 'embeddings') {
    checkEmbeddingsInput(body.input);
    facts.maxOutputTokens = 0;
  } else {
    if (readString(body, 'prompt') === undefined) fail('prompt', 'is required');
    facts.image = imageParams(body, limits, form);
  }
  facts.inputTokens = inputTokens(endpoint, body);
  return facts;
}
