/**
 * OpenAI Chat Completions requests ⇄ the common form. What cannot be carried either way is
 * refused naming the field, or dropped where the README's translation table says so.
 */
import {
  argsText, fieldOf, flatText, given, invalid, isObj, num, parseDataUrl, str, unsupported,
  type ChatRequest, type Message, type Obj, type Part, type Tool, type ToolChoice,
} from './ir.ts';
import type { Provider } from '../provider.ts';

/** Fields refused whatever the target: they change the answer and have no counterpart. */
const REFUSED = ['logprobs', 'top_logprobs', 'logit_bias', 'audio', 'prediction', 'functions', 'function_call', 'web_search_options'] as const;
/** Fields dropped (they do not change what a model answers): README "Translation". */
const DROPPED = new Set(['stream_options', 'store', 'metadata', 'service_tier', 'user', 'model', 'messages', 'stream', 'prompt_cache_key', 'safety_identifier', 'verbosity']);

function contentParts(content: unknown, field: string, target: Provider): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!given(content)) return [];
  if (!Array.isArray(content)) invalid(field, 'must be a string or an array of content parts');
  const out: Part[] = [];
  content.forEach((p, i) => {
    const at = `${field}.${i}`;
    if (!isObj(p)) invalid(at, 'must be an object');
    if (p.type === 'text' || p.type === 'refusal') out.push({ type: 'text', text: str(p.text ?? p.refusal, `${at}.text`) ?? '' });
    else if (p.type === 'image_url') {
      const url = isObj(p.image_url) ? p.image_url.url : p.image_url;
      if (typeof url !== 'string') invalid(`${at}.image_url.url`, 'must be a string');
      const data = parseDataUrl(url);
      out.push(data ? { type: 'image', data: data.data, mime: data.mime } : { type: 'image', url });
    } else unsupported(`${at}.type=${String(p.type)}`, target);
  });
  return out;
}

function toolCalls(v: unknown, field: string): Part[] {
  if (!given(v)) return [];
  if (!Array.isArray(v)) invalid(field, 'must be an array');
  return v.map((tc, i) => {
    if (!isObj(tc) || !isObj(tc.function)) return invalid(`${field}.${i}.function`, 'must be an object');
    const name = str(tc.function.name, `${field}.${i}.function.name`) ?? '';
    return { type: 'tool_call', id: str(tc.id, `${field}.${i}.id`) ?? '', name, args: argsText(tc.function.arguments ?? '{}') };
  });
}

function decodeMessages(body: Obj, target: Provider): { system: string | null; messages: Message[] } {
  if (!Array.isArray(body.messages)) invalid('messages', 'must be an array');
  const system: string[] = [];
  const messages: Message[] = [];
  const names = new Map<string, string>();
  body.messages.forEach((m, i) => {
    const at = `messages.${i}`;
    if (!isObj(m)) invalid(at, 'must be an object');
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(flatText(m.content));
        return;
      case 'user':
        messages.push({ role: 'user', parts: contentParts(m.content, `${at}.content`, target) });
        return;
      case 'assistant': {
        const calls = toolCalls(m.tool_calls, `${at}.tool_calls`);
        for (const c of calls) if (c.type === 'tool_call') names.set(c.id, c.name);
        const parts = contentParts(m.content, `${at}.content`, target);
        if (typeof m.refusal === 'string' && m.refusal !== '') parts.push({ type: 'text', text: m.refusal });
        messages.push({ role: 'assistant', parts: [...parts, ...calls] });
        return;
      }
      case 'tool': {
        const id = str(m.tool_call_id, `${at}.tool_call_id`) ?? invalid(`${at}.tool_call_id`, 'is required');
        messages.push({ role: 'user', parts: [{ type: 'tool_result', id, name: names.get(id) ?? '', content: flatText(m.content) }] });
        return;
      }
      default:
        unsupported(`${at}.role=${String(m.role)}`, target);
    }
  });
  return { system: system.length > 0 ? system.join('\n\n') : null, messages };
}

function decodeTools(v: unknown, target: Provider): Tool[] | undefined {
  if (!given(v)) return undefined;
  if (!Array.isArray(v)) invalid('tools', 'must be an array');
  return v.map((t, i) => {
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) return unsupported(`tools.${i}.type=${isObj(t) ? String(t.type) : '?'}`, target, 'only function tools translate');
    const f = t.function;
    const tool: Tool = { name: str(f.name, `tools.${i}.function.name`) ?? invalid(`tools.${i}.function.name`, 'is required'), parameters: isObj(f.parameters) ? f.parameters : { type: 'object', properties: {} } };
    const d = str(f.description, `tools.${i}.function.description`);
    if (d !== undefined) tool.description = d;
    return tool;
  });
}

function decodeToolChoice(v: unknown): ToolChoice | undefined {
  if (!given(v)) return undefined;
  if (v === 'auto' || v === 'none' || v === 'required') return v;
  if (isObj(v) && isObj(v.function) && typeof v.function.name === 'string') return { name: v.function.name };
  return invalid('tool_choice', 'must be "auto", "none", "required" or {"type":"function","function":{"name":…}}');
}

function decodeOutput(r: ChatRequest, v: unknown): void {
  if (!given(v)) return;
  if (!isObj(v)) invalid('response_format', 'must be an object');
  if (v.type === 'text') return;
  if (v.type === 'json_object') r.output = { type: 'json' };
  else if (v.type === 'json_schema' && isObj(v.json_schema) && isObj(v.json_schema.schema)) {
    const js = v.json_schema;
    r.output = { type: 'json_schema', name: typeof js.name === 'string' ? js.name : 'output', schema: js.schema as Obj, ...(typeof js.strict === 'boolean' ? { strict: js.strict } : {}) };
  } else invalid('response_format', 'must be {"type":"text"}, {"type":"json_object"} or {"type":"json_schema","json_schema":{"schema":…}}');
}

/** An OpenAI chat request in the common form (for an upstream speaking `target`). */
export function decodeOpenAIRequest(body: Obj, target: Provider): ChatRequest {
  for (const f of REFUSED) if (given(body[f])) unsupported(f, target);
  if (given(body.n) && body.n !== 1) unsupported('n', target, 'more than one choice is not translated');
  if (given(body.modalities) && !(Array.isArray(body.modalities) && body.modalities.every((m) => m === 'text'))) unsupported('modalities', target, 'only text output translates');
  const { system, messages } = decodeMessages(body, target);
  const r: ChatRequest = { system, messages, stream: body.stream === true };
  const max = num(body.max_completion_tokens, 'max_completion_tokens') ?? num(body.max_tokens, 'max_tokens');
  if (max !== undefined) r.maxTokens = max;
  const t = num(body.temperature, 'temperature');
  if (t !== undefined) r.temperature = t;
  const p = num(body.top_p, 'top_p');
  if (p !== undefined) r.topP = p;
  if (typeof body.stop === 'string') r.stop = [body.stop];
  else if (Array.isArray(body.stop)) r.stop = body.stop.map((s, i) => str(s, `stop.${i}`) ?? '');
  else if (given(body.stop)) invalid('stop', 'must be a string or an array of strings');
  const seed = num(body.seed, 'seed');
  if (seed !== undefined) r.seed = seed;
  const pp = num(body.presence_penalty, 'presence_penalty');
  if (pp !== undefined && pp !== 0) r.presencePenalty = pp;
  const fp = num(body.frequency_penalty, 'frequency_penalty');
  if (fp !== undefined && fp !== 0) r.frequencyPenalty = fp;
  const tools = decodeTools(body.tools, target);
  if (tools) r.tools = tools;
  const tc = decodeToolChoice(body.tool_choice);
  if (tc) r.toolChoice = tc;
  if (typeof body.parallel_tool_calls === 'boolean') r.parallelToolCalls = body.parallel_tool_calls;
  decodeOutput(r, body.response_format);
  const effort = body.reasoning_effort;
  if (effort === 'minimal' || effort === 'low') r.effort = 'low';
  else if (effort === 'medium' || effort === 'high') r.effort = effort;
  else if (effort === 'none') r.thinkingBudget = 0;
  else if (given(effort)) invalid('reasoning_effort', 'must be none, minimal, low, medium or high');
  if (typeof body.user === 'string') r.user = body.user;
  for (const k of Object.keys(body)) {
    if (!DROPPED.has(k) && !KNOWN.has(k) && given(body[k])) unsupported(k, target, 'is not a parameter Surety knows how to translate');
  }
  return r;
}

const KNOWN = new Set([
  'max_completion_tokens', 'max_tokens', 'temperature', 'top_p', 'stop', 'seed', 'presence_penalty', 'frequency_penalty',
  'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'reasoning_effort', 'n', 'modalities', ...REFUSED,
]);

// ---- the common form → an OpenAI chat request ----

function userContent(parts: Part[]): unknown {
  const out: Obj[] = [];
  for (const p of parts) {
    if (p.type === 'text') out.push({ type: 'text', text: p.text });
    else if (p.type === 'image') out.push({ type: 'image_url', image_url: { url: p.url ?? `data:${p.mime ?? 'image/png'};base64,${p.data ?? ''}` } });
  }
  if (out.length > 0 && out.every((p) => p.type === 'text')) return out.map((p) => p.text).join('');
  return out;
}

function encodeMessage(m: Message, out: Obj[]): void {
  if (m.role === 'assistant') {
    const text = m.parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('');
    const calls = m.parts.filter((p) => p.type === 'tool_call');
    const msg: Obj = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
    if (calls.length > 0) msg.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }));
    out.push(msg);
    return;
  }
  // Tool results become tool messages, which must follow the assistant's calls; the rest is a user message after them.
  for (const p of m.parts) if (p.type === 'tool_result') out.push({ role: 'tool', tool_call_id: p.id, content: p.content });
  const rest = m.parts.filter((p) => p.type === 'text' || p.type === 'image');
  if (rest.length > 0) out.push({ role: 'user', content: userContent(rest) });
}

/** The common form as an OpenAI chat request for `model`. */
export function encodeOpenAIRequest(r: ChatRequest, model: string): Obj {
  const messages: Obj[] = [];
  if (r.system !== null) messages.push({ role: 'system', content: r.system });
  for (const m of r.messages) encodeMessage(m, messages);
  const body: Obj = { model, messages };
  if (r.stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  if (r.maxTokens !== undefined) body.max_completion_tokens = r.maxTokens;
  if (r.temperature !== undefined) body.temperature = r.temperature;
  if (r.topP !== undefined) body.top_p = r.topP;
  if (r.topK !== undefined) unsupported(fieldOf(r, 'topK'), 'openai');
  if (r.stop) body.stop = r.stop;
  if (r.seed !== undefined) body.seed = r.seed;
  if (r.presencePenalty !== undefined) body.presence_penalty = r.presencePenalty;
  if (r.frequencyPenalty !== undefined) body.frequency_penalty = r.frequencyPenalty;
  if (r.tools) body.tools = r.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.parameters } }));
  if (r.toolChoice) body.tool_choice = typeof r.toolChoice === 'string' ? r.toolChoice : { type: 'function', function: { name: r.toolChoice.name } };
  if (r.parallelToolCalls !== undefined && r.tools) body.parallel_tool_calls = r.parallelToolCalls;
  if (r.output?.type === 'json') body.response_format = { type: 'json_object' };
  else if (r.output?.type === 'json_schema') body.response_format = { type: 'json_schema', json_schema: { name: r.output.name, schema: r.output.schema, ...(r.output.strict !== undefined ? { strict: r.output.strict } : {}) } };
  if (r.effort) body.reasoning_effort = r.effort;
  if (r.user) body.user = r.user;
  return body;
}
