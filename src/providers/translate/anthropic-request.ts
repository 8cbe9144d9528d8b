/**
 * Anthropic Messages requests ⇄ the common form. What cannot be carried either way is refused
 * naming the field, or dropped where the README's translation table says so.
 */
import {
  argsObject, argsText, fieldOf, flatText, given, invalid, isObj, mergeRoles, num, str, unsupported,
  type ChatRequest, type Message, type Obj, type Part, type Tool, type ToolChoice,
} from './ir.ts';
import type { Provider } from '../provider.ts';

/** Output tokens asked for when the caller's API does not require a limit (Anthropic does). */
export const DEFAULT_MAX_TOKENS = 8192;

const REFUSED = ['container', 'mcp_servers', 'context_management'] as const;
const DROPPED = new Set(['model', 'messages', 'stream', 'system', 'service_tier', 'metadata', 'cache_control', 'inference_geo', 'speed']);

function block(b: unknown, at: string, role: 'user' | 'assistant', names: Map<string, string>, target: Provider): Part | null {
  if (!isObj(b)) return invalid(at, 'must be an object');
  switch (b.type) {
    case 'text':
      return { type: 'text', text: str(b.text, `${at}.text`) ?? '' };
    case 'image': {
      const s = isObj(b.source) ? b.source : invalid(`${at}.source`, 'must be an object');
      if (s.type === 'base64') return { type: 'image', data: str(s.data, `${at}.source.data`) ?? '', mime: str(s.media_type, `${at}.source.media_type`) ?? 'image/png' };
      if (s.type === 'url') return { type: 'image', url: str(s.url, `${at}.source.url`) ?? '' };
      return unsupported(`${at}.source.type=${String(s.type)}`, target);
    }
    case 'tool_use': {
      const id = str(b.id, `${at}.id`) ?? '';
      const name = str(b.name, `${at}.name`) ?? '';
      names.set(id, name);
      return { type: 'tool_call', id, name, args: argsText(b.input ?? {}) };
    }
    case 'tool_result': {
      const id = str(b.tool_use_id, `${at}.tool_use_id`) ?? invalid(`${at}.tool_use_id`, 'is required');
      if (Array.isArray(b.content) && b.content.some((c) => isObj(c) && c.type !== 'text')) unsupported(`${at}.content`, target, 'only text tool results translate');
      return { type: 'tool_result', id, name: names.get(id) ?? '', content: flatText(b.content), ...(b.is_error === true ? { isError: true } : {}) };
    }
    case 'thinking':
    case 'redacted_thinking':
      // Signed reasoning of an earlier Claude turn means nothing to another model: dropped.
      return role === 'assistant' ? null : invalid(at, 'thinking blocks belong to assistant turns');
    default:
      return unsupported(`${at}.type=${String(b.type)}`, target);
  }
}

function decodeMessages(body: Obj, target: Provider): Message[] {
  if (!Array.isArray(body.messages)) invalid('messages', 'must be an array');
  const names = new Map<string, string>();
  return body.messages.map((m, i) => {
    const at = `messages.${i}`;
    if (!isObj(m) || (m.role !== 'user' && m.role !== 'assistant')) return invalid(`${at}.role`, 'must be "user" or "assistant"');
    const role = m.role;
    if (typeof m.content === 'string') return { role, parts: m.content === '' ? [] : [{ type: 'text', text: m.content }] };
    if (!Array.isArray(m.content)) return invalid(`${at}.content`, 'must be a string or an array of content blocks');
    const parts: Part[] = [];
    m.content.forEach((b, j) => {
      const p = block(b, `${at}.content.${j}`, role, names, target);
      if (p) parts.push(p);
    });
    return { role, parts };
  });
}

function decodeTools(v: unknown, target: Provider): Tool[] | undefined {
  if (!given(v)) return undefined;
  if (!Array.isArray(v)) invalid('tools', 'must be an array');
  return v.map((t, i) => {
    if (!isObj(t)) return invalid(`tools.${i}`, 'must be an object');
    if (given(t.type) && t.type !== 'custom') return unsupported(`tools.${i}.type=${String(t.type)}`, target, 'server tools run at Anthropic only');
    const tool: Tool = { name: str(t.name, `tools.${i}.name`) ?? invalid(`tools.${i}.name`, 'is required'), parameters: isObj(t.input_schema) ? t.input_schema : { type: 'object', properties: {} } };
    const d = str(t.description, `tools.${i}.description`);
    if (d !== undefined) tool.description = d;
    return tool;
  });
}

function decodeToolChoice(r: ChatRequest, v: unknown): void {
  if (!given(v)) return;
  if (!isObj(v)) invalid('tool_choice', 'must be an object');
  const choice: Record<string, ToolChoice | undefined> = { auto: 'auto', any: 'required', none: 'none', tool: typeof v.name === 'string' ? { name: v.name } : undefined };
  const c = choice[String(v.type)];
  if (!c) invalid('tool_choice', 'must be {"type":"auto"|"any"|"none"} or {"type":"tool","name":…}');
  r.toolChoice = c;
  if (v.disable_parallel_tool_use === true) r.parallelToolCalls = false;
}

function decodeOutputConfig(r: ChatRequest, v: unknown): void {
  if (!given(v)) return;
  if (!isObj(v)) invalid('output_config', 'must be an object');
  if (isObj(v.format)) {
    if (v.format.type !== 'json_schema' || !isObj(v.format.schema)) invalid('output_config.format', 'must be {"type":"json_schema","schema":…}');
    r.output = { type: 'json_schema', name: 'output', schema: v.format.schema as Obj, strict: true };
  }
  const e = v.effort;
  if (e === 'low' || e === 'medium' || e === 'high') r.effort = e;
  else if (e === 'xhigh' || e === 'max') r.effort = 'high';
}

/** An Anthropic Messages request in the common form (for an upstream speaking `target`). */
export function decodeAnthropicRequest(body: Obj, target: Provider): ChatRequest {
  for (const f of REFUSED) if (given(body[f])) unsupported(f, target);
  const system = typeof body.system === 'string' ? body.system : given(body.system) ? flatText(body.system) : null;
  const r: ChatRequest = { system, messages: decodeMessages(body, target), stream: body.stream === true, fields: { output: 'output_config.format' } };
  const max = num(body.max_tokens, 'max_tokens');
  if (max !== undefined) r.maxTokens = max;
  const t = num(body.temperature, 'temperature');
  if (t !== undefined) r.temperature = t;
  const p = num(body.top_p, 'top_p');
  if (p !== undefined) r.topP = p;
  const k = num(body.top_k, 'top_k');
  if (k !== undefined) r.topK = k;
  if (given(body.stop_sequences)) {
    if (!Array.isArray(body.stop_sequences)) invalid('stop_sequences', 'must be an array of strings');
    r.stop = body.stop_sequences.map((s, i) => str(s, `stop_sequences.${i}`) ?? '');
  }
  const tools = decodeTools(body.tools, target);
  if (tools) r.tools = tools;
  decodeToolChoice(r, body.tool_choice);
  decodeOutputConfig(r, body.output_config);
  if (isObj(body.thinking) && body.thinking.type === 'enabled') {
    const b = num(body.thinking.budget_tokens, 'thinking.budget_tokens');
    if (b !== undefined) r.thinkingBudget = b;
  }
  if (isObj(body.metadata) && typeof body.metadata.user_id === 'string') r.user = body.metadata.user_id;
  for (const key of Object.keys(body)) {
    if (!DROPPED.has(key) && !KNOWN.has(key) && given(body[key])) unsupported(key, target, 'is not a parameter Surety knows how to translate');
  }
  return r;
}

const KNOWN = new Set(['max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'tools', 'tool_choice', 'output_config', 'thinking', ...REFUSED]);

// ---- the common form → an Anthropic Messages request ----

function encodeBlock(p: Part): Obj | null {
  switch (p.type) {
    case 'text':
      return p.text === '' ? null : { type: 'text', text: p.text };
    case 'image':
      return { type: 'image', source: p.url ? { type: 'url', url: p.url } : { type: 'base64', media_type: p.mime ?? 'image/png', data: p.data ?? '' } };
    case 'tool_call':
      return { type: 'tool_use', id: p.id, name: p.name, input: argsObject(p.args) };
    case 'tool_result':
      return { type: 'tool_result', tool_use_id: p.id, content: p.content, ...(p.isError ? { is_error: true } : {}) };
    case 'thinking':
      return null; // unsigned reasoning from another model cannot be replayed to Claude
  }
}

/** The common form as an Anthropic Messages request for `model`. */
export function encodeAnthropicRequest(r: ChatRequest, model: string): Obj {
  const messages = mergeRoles(r.messages).map((m) => {
    // Tool results first in a user turn (Anthropic requires them to lead).
    const parts = m.role === 'user' ? [...m.parts.filter((p) => p.type === 'tool_result'), ...m.parts.filter((p) => p.type !== 'tool_result')] : m.parts;
    return { role: m.role, content: parts.map(encodeBlock).filter((b): b is Obj => b !== null) };
  });
  const body: Obj = { model, messages, max_tokens: r.maxTokens ?? DEFAULT_MAX_TOKENS };
  if (r.system !== null) body.system = r.system;
  if (r.stream) body.stream = true;
  if (r.temperature !== undefined && r.temperature > 1) unsupported(fieldOf(r, 'temperature'), 'anthropic', 'Anthropic accepts 0 to 1');
  if (r.temperature !== undefined) body.temperature = r.temperature;
  if (r.topP !== undefined) body.top_p = r.topP;
  if (r.topK !== undefined) body.top_k = r.topK;
  if (r.stop) body.stop_sequences = r.stop;
  if (r.seed !== undefined) unsupported(fieldOf(r, 'seed'), 'anthropic');
  if (r.presencePenalty !== undefined) unsupported(fieldOf(r, 'presencePenalty'), 'anthropic');
  if (r.frequencyPenalty !== undefined) unsupported(fieldOf(r, 'frequencyPenalty'), 'anthropic');
  if (r.tools) body.tools = r.tools.map((t) => ({ name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), input_schema: t.parameters }));
  if (r.toolChoice && r.tools) {
    const tc: Obj = typeof r.toolChoice === 'object' ? { type: 'tool', name: r.toolChoice.name } : { type: r.toolChoice === 'required' ? 'any' : r.toolChoice };
    if (r.parallelToolCalls === false && tc.type !== 'none') tc.disable_parallel_tool_use = true;
    body.tool_choice = tc;
  } else if (r.parallelToolCalls === false && r.tools) body.tool_choice = { type: 'auto', disable_parallel_tool_use: true };
  const oc: Obj = {};
  if (r.output?.type === 'json') unsupported(fieldOf(r, 'output'), 'anthropic', 'JSON mode without a schema has no Anthropic equivalent; use json_schema');
  if (r.output?.type === 'json_schema') oc.format = { type: 'json_schema', schema: r.output.schema };
  if (r.effort) oc.effort = r.effort;
  if (Object.keys(oc).length > 0) body.output_config = oc;
  if (r.thinkingBudget !== undefined && r.thinkingBudget >= 1024) body.thinking = { type: 'enabled', budget_tokens: r.thinkingBudget };
  if (r.user) body.metadata = { user_id: r.user };
  return body;
}
