/**
 * OpenAI Responses API requests → the common form, for Claude and Gemini models (a Responses
 * request for an OpenAI model is forwarded untouched). Stateless only: `previous_response_id` and
 * stored conversations are refused, as are built-in tools.
 */
import { flatText, given, invalid, isObj, num, parseDataUrl, str, unsupported, type ChatRequest, type Message, type Obj, type Part, type Tool, type ToolChoice } from './ir.ts';
import type { Provider } from '../provider.ts';

const REFUSED = ['previous_response_id', 'conversation', 'prompt', 'background', 'top_logprobs'] as const;
const DROPPED = new Set(['model', 'input', 'instructions', 'stream', 'stream_options', 'store', 'metadata', 'service_tier', 'include', 'truncation', 'user', 'prompt_cache_key', 'safety_identifier']);
const KNOWN = new Set(['max_output_tokens', 'temperature', 'top_p', 'tools', 'tool_choice', 'parallel_tool_calls', 'text', 'reasoning', ...REFUSED]);

function contentParts(content: unknown, at: string, target: Provider): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return invalid(at, 'must be a string or an array of content parts');
  return content.map((p, i): Part => {
    const pat = `${at}.${i}`;
    if (!isObj(p)) return invalid(pat, 'must be an object');
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') return { type: 'text', text: str(p.text, `${pat}.text`) ?? '' };
    if (p.type === 'refusal') return { type: 'text', text: str(p.refusal, `${pat}.refusal`) ?? '' };
    if (p.type === 'input_image' && typeof p.image_url === 'string') {
      const data = parseDataUrl(p.image_url);
      return data ? { type: 'image', data: data.data, mime: data.mime } : { type: 'image', url: p.image_url };
    }
    return unsupported(`${pat}.type=${String(p.type)}`, target);
  });
}

function decodeInput(body: Obj, target: Provider): { system: string[]; messages: Message[] } {
  const system: string[] = [];
  const messages: Message[] = [];
  const names = new Map<string, string>();
  const input = body.input;
  if (typeof input === 'string') return { system, messages: [{ role: 'user', parts: [{ type: 'text', text: input }] }] };
  if (!Array.isArray(input)) return invalid('input', 'must be a string or an array of items');
  input.forEach((item, i) => {
    const at = `input.${i}`;
    if (!isObj(item)) invalid(at, 'must be an object');
    const type = item.type ?? 'message';
    if (type === 'message') {
      if (item.role === 'system' || item.role === 'developer') system.push(flatText(item.content));
      else if (item.role === 'user' || item.role === 'assistant') messages.push({ role: item.role, parts: contentParts(item.content, `${at}.content`, target) });
      else invalid(`${at}.role`, 'must be user, assistant, system or developer');
    } else if (type === 'function_call') {
      const id = str(item.call_id, `${at}.call_id`) ?? invalid(`${at}.call_id`, 'is required');
      const name = str(item.name, `${at}.name`) ?? '';
      names.set(id, name);
      messages.push({ role: 'assistant', parts: [{ type: 'tool_call', id, name, args: str(item.arguments, `${at}.arguments`) ?? '{}' }] });
    } else if (type === 'function_call_output') {
      const id = str(item.call_id, `${at}.call_id`) ?? invalid(`${at}.call_id`, 'is required');
      messages.push({ role: 'user', parts: [{ type: 'tool_result', id, name: names.get(id) ?? '', content: typeof item.output === 'string' ? item.output : flatText(item.output) }] });
    } else if (type === 'reasoning') {
      // Another model's reasoning item (often encrypted): dropped.
    } else unsupported(`${at}.type=${String(type)}`, target);
  });
  // Consecutive assistant items (text then calls) form one turn.
  const merged: Message[] = [];
  for (const m of messages) {
    const last = merged.at(-1);
    if (last && last.role === m.role) last.parts.push(...m.parts);
    else merged.push(m);
  }
  return { system, messages: merged };
}

function decodeTools(v: unknown, target: Provider): Tool[] | undefined {
  if (!given(v)) return undefined;
  if (!Array.isArray(v)) invalid('tools', 'must be an array');
  return v.map((t, i) => {
    if (!isObj(t) || t.type !== 'function') return unsupported(`tools.${i}.type=${isObj(t) ? String(t.type) : '?'}`, target, 'only function tools translate');
    const tool: Tool = { name: str(t.name, `tools.${i}.name`) ?? invalid(`tools.${i}.name`, 'is required'), parameters: isObj(t.parameters) ? t.parameters : { type: 'object', properties: {} } };
    if (typeof t.description === 'string') tool.description = t.description;
    return tool;
  });
}

function decodeToolChoice(v: unknown): ToolChoice | undefined {
  if (!given(v)) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') return v;
  if (isObj(v) && v.type === 'function' && typeof v.name === 'string') return { name: v.name };
  return invalid('tool_choice', 'must be "auto", "none", "required" or {"type":"function","name":…}');
}

/** A Responses API request in the common form (for an upstream speaking `target`). */
export function decodeResponsesRequest(body: Obj, target: Provider): ChatRequest {
  for (const f of REFUSED) if (given(body[f])) unsupported(f, target, 'has no equivalent outside OpenAI (Responses are stateless when translated)');
  for (const k of Object.keys(body)) if (!DROPPED.has(k) && !KNOWN.has(k) && given(body[k])) unsupported(k, target, 'is not a parameter Surety knows how to translate');
  const { system, messages } = decodeInput(body, target);
  if (typeof body.instructions === 'string') system.unshift(body.instructions);
  const r: ChatRequest = { system: system.length > 0 ? system.join('\n\n') : null, messages, stream: body.stream === true, fields: { output: 'text.format' } };
  const max = num(body.max_output_tokens, 'max_output_tokens');
  if (max !== undefined) r.maxTokens = max;
  const t = num(body.temperature, 'temperature');
  if (t !== undefined) r.temperature = t;
  const p = num(body.top_p, 'top_p');
  if (p !== undefined) r.topP = p;
  const tools = decodeTools(body.tools, target);
  if (tools) r.tools = tools;
  const tc = decodeToolChoice(body.tool_choice);
  if (tc) r.toolChoice = tc;
  if (typeof body.parallel_tool_calls === 'boolean') r.parallelToolCalls = body.parallel_tool_calls;
  const format = isObj(body.text) ? body.text.format : undefined;
  if (isObj(format) && format.type === 'json_object') r.output = { type: 'json' };
  else if (isObj(format) && format.type === 'json_schema' && isObj(format.schema)) r.output = { type: 'json_schema', name: typeof format.name === 'string' ? format.name : 'output', schema: format.schema, ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}) };
  const effort = isObj(body.reasoning) ? body.reasoning.effort : undefined;
  if (effort === 'minimal' || effort === 'low') r.effort = 'low';
  else if (effort === 'medium' || effort === 'high') r.effort = effort;
  if (typeof body.user === 'string') r.user = body.user;
  return r;
}
