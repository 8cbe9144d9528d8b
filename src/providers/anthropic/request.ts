/** Anthropic Messages requests: what Surety reads from them, validated, and the input text walk. */
import { isObj, type Obj } from '../json.ts';
import type { Operation, RequestFacts, RequestLimits } from '../provider.ts';
import { MAX_OUTPUT_TOKENS, checkNesting, fail, readBoolean, readInt, readModel, readObjects, readTextOrBlocks } from '../request.ts';
import { MAX_NESTING, inputTokensOf, visitJson, visitStr, type Visit } from '../tokens.ts';
import type { Endpoint } from '../types.ts';

/** Text of content blocks; tool results nest content blocks (bounded: deeper bodies are refused by readRequest). */
function contentText(content: unknown, visit: Visit, depth = 0): void {
  if (typeof content === 'string') return visit(content);
  if (!Array.isArray(content) || depth > MAX_NESTING) return;
  for (const b of content) {
    if (!isObj(b)) continue;
    if (b.type === 'text') visitStr(b.text, visit);
    else if (b.type === 'thinking') visitStr(b.thinking, visit);
    else if (b.type === 'tool_use') visitJson(b.input, visit);
    else if (b.type === 'tool_result') contentText(b.content, visit, depth + 1);
  }
}

/** The input text of a Messages request: system, messages (text, thinking, tool traffic), tool definitions. */
export function walkRequest(endpoint: Endpoint, body: unknown, visit: Visit): void {
  if (endpoint !== 'chat' || !isObj(body)) return;
  contentText(body.system, visit);
  if (Array.isArray(body.messages)) for (const m of body.messages) if (isObj(m)) contentText(m.content, visit);
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (!isObj(t)) continue;
      visitStr(t.name, visit);
      visitStr(t.description, visit);
      visitJson(t.input_schema, visit);
    }
  }
}

export function inputTokens(endpoint: Endpoint, body: unknown): number {
  return inputTokensOf(walkRequest, endpoint, body);
}

export function readRequest(endpoint: Endpoint, _operation: Operation, body: Obj, _limits: RequestLimits, form = false): RequestFacts {
  const model = readModel(body);
  const stream = readBoolean(body, 'stream', form) ?? false;
  checkNesting(body);
  if (endpoint !== 'chat') fail('body', 'the Anthropic API serves messages only');
  const messages = readObjects(body.messages, 'messages', true)!;
  for (let i = 0; i < messages.length; i++) readTextOrBlocks(messages[i]!.content, `messages.${i}.content`, 'content blocks');
  // `system` may be a string or an array of text blocks.
  readTextOrBlocks(body.system, 'system', 'text blocks');
  readObjects(body.tools, 'tools');
  const facts: RequestFacts = { model, stream, image: {}, inputTokens: inputTokens(endpoint, body) };
  const max = readInt(body, 'max_tokens', 1, MAX_OUTPUT_TOKENS, form);
  if (max !== undefined) facts.maxOutputTokens = max;
  return facts;
}
