// Tool calls: with `[[sim:tool]]` (the first declared tool) or `[[sim:tool=NAME]]`, a request that
// declares tools is answered with a call of that tool — unless the conversation already ends with
// a tool result, which is answered with text as usual (so a tool round trip needs one directive).
// Arguments follow the tool's schema: "lorem" for strings, 1 for numbers, true for booleans.

import { newId } from './content.ts';
import type { Directives, Provider } from './types.ts';
import { type Obj, isObj } from './util.ts';

export interface SimToolCall {
  id: string;
  name: string;
  args: Obj;
  /** The arguments as JSON text. */
  json: string;
}

interface Declared {
  name: string;
  schema: unknown;
}

function declared(provider: Provider, body: Obj): Declared[] {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const out: Declared[] = [];
  for (const t of tools) {
    if (!isObj(t)) continue;
    if (provider === 'openai' && isObj(t.function)) out.push({ name: String(t.function.name), schema: t.function.parameters });
    else if (provider === 'openai' && t.type === 'function' && typeof t.name === 'string') out.push({ name: t.name, schema: t.parameters }); // Responses API
    else if (provider === 'anthropic' && typeof t.name === 'string') out.push({ name: t.name, schema: t.input_schema });
    else if (provider === 'gemini' && Array.isArray(t.functionDeclarations)) {
      for (const d of t.functionDeclarations) if (isObj(d)) out.push({ name: String(d.name), schema: d.parametersJsonSchema ?? d.parameters });
    }
  }
  return out;
}

/** Does the conversation end with a tool result (then the model answers in text)? */
function answersTool(provider: Provider, body: Obj): boolean {
  if (provider === 'gemini') {
    const last = Array.isArray(body.contents) ? body.contents.at(-1) : undefined;
    return isObj(last) && Array.isArray(last.parts) && last.parts.some((p) => isObj(p) && isObj(p.functionResponse));
  }
  if (Array.isArray(body.input)) {
    const last = body.input.at(-1);
    return isObj(last) && last.type === 'function_call_output';
  }
  const last = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
  if (!isObj(last)) return false;
  if (provider === 'openai') return last.role === 'tool';
  return Array.isArray(last.content) && last.content.some((b) => isObj(b) && b.type === 'tool_result');
}

function argsFor(schema: unknown): Obj {
  const out: Obj = {};
  const props = isObj(schema) && isObj(schema.properties) ? schema.properties : {};
  for (const [k, v] of Object.entries(props)) {
    const type = isObj(v) ? String(v.type ?? '').toLowerCase() : '';
    if (type === 'string') out[k] = 'lorem';
    else if (type === 'number' || type === 'integer') out[k] = 1;
    else if (type === 'boolean') out[k] = true;
  }
  return out;
}

/** The tool call this request is answered with, or null. */
export function toolCallOf(provider: Provider, body: Obj, d: Readonly<Directives>): SimToolCall | null {
  if (d.tool === '' || answersTool(provider, body)) return null;
  const tools = declared(provider, body);
  const t = d.tool === 'true' ? tools[0] : tools.find((x) => x.name === d.tool);
  if (t === undefined) return null;
  const args = argsFor(t.schema);
  return { id: newId(provider === 'anthropic' ? 'toolu_' : 'call_'), name: t.name, args, json: JSON.stringify(args) };
}
