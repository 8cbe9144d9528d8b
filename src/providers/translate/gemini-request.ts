/**
 * Gemini generateContent requests ⇄ the common form. Gemini accepts camelCase and snake_case
 * field names alike; both are read. What cannot be carried is refused naming the field, or
 * dropped where the README's translation table says so.
 */
import {
  argsObject, argsText, given, invalid, isObj, mergeRoles, num, str, unsupported,
  type ChatRequest, type Message, type Obj, type Part, type Tool,
} from './ir.ts';
import type { Provider } from '../provider.ts';

const pick = (o: Obj, camel: string, snake: string): unknown => (given(o[camel]) ? o[camel] : o[snake]);

const GEN_KNOWN = new Set([
  'maxOutputTokens', 'temperature', 'topP', 'topK', 'stopSequences', 'seed', 'presencePenalty', 'frequencyPenalty', 'candidateCount',
  'responseMimeType', 'responseSchema', 'responseJsonSchema', 'thinkingConfig', 'responseModalities',
]);
const TOP_KNOWN = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'model']);

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** OpenAPI-style schema (Gemini `parameters`/`responseSchema`: "OBJECT", "STRING") as JSON Schema. */
export function jsonSchemaOf(v: unknown, depth = 0): unknown {
  if (depth > 64 || typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => jsonSchemaOf(x, depth + 1));
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) out[k] = k === 'type' && typeof x === 'string' ? x.toLowerCase() : jsonSchemaOf(x, depth + 1);
  return out;
}

function partsOf(c: unknown, at: string, role: 'user' | 'assistant', calls: Array<{ id: string; name: string; answered: boolean }>, target: Provider): Part[] {
  if (!isObj(c)) return invalid(at, 'must be an object');
  if (!Array.isArray(c.parts)) return invalid(`${at}.parts`, 'must be an array');
  const out: Part[] = [];
  c.parts.forEach((p, i) => {
    const pat = `${at}.parts.${i}`;
    if (!isObj(p)) invalid(pat, 'must be an object');
    const inline = pick(p, 'inlineData', 'inline_data');
    const file = pick(p, 'fileData', 'file_data');
    const call = pick(p, 'functionCall', 'function_call');
    const resp = pick(p, 'functionResponse', 'function_response');
    if (typeof p.text === 'string') {
      if (p.thought === true) {
        if (role === 'assistant') out.push({ type: 'thinking', text: p.text });
      } else out.push({ type: 'text', text: p.text });
    } else if (isObj(inline)) {
      const mime = String(pick(inline, 'mimeType', 'mime_type') ?? '');
      if (!mime.startsWith('image/')) unsupported(`${pat}.inlineData.mimeType=${mime}`, target, 'only image inputs translate');
      out.push({ type: 'image', data: str(inline.data, `${pat}.inlineData.data`) ?? '', mime });
    } else if (isObj(file)) {
      const mime = String(pick(file, 'mimeType', 'mime_type') ?? 'image/jpeg');
      if (!mime.startsWith('image/')) unsupported(`${pat}.fileData.mimeType=${mime}`, target, 'only image inputs translate');
      out.push({ type: 'image', url: str(pick(file, 'fileUri', 'file_uri'), `${pat}.fileData.fileUri`) ?? '' });
    } else if (isObj(call)) {
      const name = str(call.name, `${pat}.functionCall.name`) ?? '';
      const id = typeof call.id === 'string' && call.id !== '' ? call.id : `call_${calls.length}_${name}`;
      calls.push({ id, name, answered: false });
      out.push({ type: 'tool_call', id, name, args: argsText(call.args ?? {}) });
    } else if (isObj(resp)) {
      const name = str(resp.name, `${pat}.functionResponse.name`) ?? '';
      // Gemini answers calls by name, in order: the first unanswered call of that name.
      const match = calls.find((x) => (typeof resp.id === 'string' ? x.id === resp.id : x.name === name && !x.answered));
      if (match) match.answered = true;
      const r = resp.response;
      const content = isObj(r) && typeof r.result === 'string' && Object.keys(r).length === 1 ? r.result : JSON.stringify(r ?? {});
      out.push({ type: 'tool_result', id: match?.id ?? (typeof resp.id === 'string' ? resp.id : `call_x_${name}`), name, content });
    } else if (p.thought === true || given(p.thoughtSignature) || given(p.thought_signature)) {
      // a bare thought signature: Gemini's own continuity token, meaningless elsewhere
    } else unsupported(`${pat}`, target, `the part kind (${Object.keys(p).join(', ')}) does not translate`);
  });
  return out;
}

function decodeTools(v: unknown, target: Provider): Tool[] | undefined {
  if (!given(v)) return undefined;
  if (!Array.isArray(v)) invalid('tools', 'must be an array');
  const out: Tool[] = [];
  v.forEach((t, i) => {
    if (!isObj(t)) invalid(`tools.${i}`, 'must be an object');
    for (const k of Object.keys(t)) if (camel(k) !== 'functionDeclarations') unsupported(`tools.${i}.${k}`, target, 'only function declarations translate');
    const decls = pick(t, 'functionDeclarations', 'function_declarations');
    if (!Array.isArray(decls)) return;
    decls.forEach((d, j) => {
      if (!isObj(d)) invalid(`tools.${i}.functionDeclarations.${j}`, 'must be an object');
      const schema = pick(d, 'parametersJsonSchema', 'parameters_json_schema') ?? jsonSchemaOf(d.parameters);
      const tool: Tool = { name: str(d.name, `tools.${i}.functionDeclarations.${j}.name`) ?? '', parameters: isObj(schema) ? schema : { type: 'object', properties: {} } };
      if (typeof d.description === 'string') tool.description = d.description;
      out.push(tool);
    });
  });
  return out;
}

function decodeToolConfig(r: ChatRequest, v: unknown): void {
  if (!isObj(v)) return;
  const fc = pick(v, 'functionCallingConfig', 'function_calling_config');
  if (!isObj(fc)) return;
  const mode = fc.mode;
  const allowed = pick(fc, 'allowedFunctionNames', 'allowed_function_names');
  if (mode === 'NONE') r.toolChoice = 'none';
  else if (mode === 'ANY' && Array.isArray(allowed) && allowed.length === 1 && typeof allowed[0] === 'string') r.toolChoice = { name: allowed[0] };
  else if (mode === 'ANY') r.toolChoice = 'required';
  else if (mode === 'AUTO' || mode === 'VALIDATED' || mode === undefined) r.toolChoice = 'auto';
  else invalid('toolConfig.functionCallingConfig.mode', 'must be AUTO, ANY, NONE or VALIDATED');
}

function decodeGeneration(r: ChatRequest, gcRaw: unknown, target: Provider): void {
  if (!isObj(gcRaw)) return;
  const gc: Obj = {};
  for (const [k, v] of Object.entries(gcRaw)) if (given(v)) gc[camel(k)] = v;
  for (const k of Object.keys(gc)) if (!GEN_KNOWN.has(k)) unsupported(`generationConfig.${k}`, target);
  const set = <K extends keyof ChatRequest>(key: K, v: ChatRequest[K] | undefined) => {
    if (v !== undefined) r[key] = v;
  };
  set('maxTokens', num(gc.maxOutputTokens, 'generationConfig.maxOutputTokens'));
  set('temperature', num(gc.temperature, 'generationConfig.temperature'));
  set('topP', num(gc.topP, 'generationConfig.topP'));
  set('topK', num(gc.topK, 'generationConfig.topK'));
  set('seed', num(gc.seed, 'generationConfig.seed'));
  set('presencePenalty', num(gc.presencePenalty, 'generationConfig.presencePenalty'));
  set('frequencyPenalty', num(gc.frequencyPenalty, 'generationConfig.frequencyPenalty'));
  if (given(gc.candidateCount) && gc.candidateCount !== 1) unsupported('generationConfig.candidateCount', target, 'more than one candidate is not translated');
  if (Array.isArray(gc.responseModalities) && gc.responseModalities.some((m) => m !== 'TEXT')) unsupported('generationConfig.responseModalities', target, 'only TEXT output translates');
  if (Array.isArray(gc.stopSequences)) r.stop = gc.stopSequences.map((s, i) => str(s, `generationConfig.stopSequences.${i}`) ?? '');
  const schema = gc.responseJsonSchema ?? (given(gc.responseSchema) ? jsonSchemaOf(gc.responseSchema) : undefined);
  if (isObj(schema)) r.output = { type: 'json_schema', name: 'output', schema };
  else if (gc.responseMimeType === 'application/json') r.output = { type: 'json' };
  else if (given(gc.responseMimeType) && gc.responseMimeType !== 'text/plain') unsupported('generationConfig.responseMimeType', target);
  if (isObj(gc.thinkingConfig)) {
    const b = num(pick(gc.thinkingConfig, 'thinkingBudget', 'thinking_budget'), 'generationConfig.thinkingConfig.thinkingBudget');
    if (b !== undefined && b >= 0) r.thinkingBudget = b;
  }
}

/** A Gemini generateContent request in the common form (for an upstream speaking `target`). */
export function decodeGeminiRequest(body: Obj, stream: boolean, target: Provider): ChatRequest {
  for (const k of Object.keys(body)) if (!TOP_KNOWN.has(camel(k)) && given(body[k])) unsupported(k, target, 'is not a parameter Surety knows how to translate');
  const contents = body.contents;
  if (!Array.isArray(contents)) invalid('contents', 'must be an array');
  const calls: Array<{ id: string; name: string; answered: boolean }> = [];
  const messages: Message[] = contents.map((c, i) => {
    const role = isObj(c) && c.role === 'model' ? 'assistant' : 'user';
    return { role, parts: partsOf(c, `contents.${i}`, role, calls, target) };
  });
  const si = pick(body, 'systemInstruction', 'system_instruction');
  let system: string | null = null;
  if (typeof si === 'string') system = si;
  else if (given(si)) system = partsOf(si, 'systemInstruction', 'user', [], target).map((p) => (p.type === 'text' ? p.text : '')).join('\n');
  const g = (k: string) => `generationConfig.${k}`;
  const fields = { topK: g('topK'), seed: g('seed'), presencePenalty: g('presencePenalty'), frequencyPenalty: g('frequencyPenalty'), output: g('responseMimeType'), temperature: g('temperature') };
  const r: ChatRequest = { system, messages, stream, fields };
  const tools = decodeTools(body.tools, target);
  if (tools && tools.length > 0) r.tools = tools;
  decodeToolConfig(r, pick(body, 'toolConfig', 'tool_config'));
  decodeGeneration(r, pick(body, 'generationConfig', 'generation_config'), target);
  return r;
}

// ---- the common form → a Gemini generateContent request ----

const EFFORT_BUDGET = { low: 1024, medium: 8192, high: 24576 } as const;

function mimeOfUrl(url: string): string {
  const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
  return ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
}

function encodePart(p: Part): Obj | null {
  switch (p.type) {
    case 'text':
      return { text: p.text };
    case 'image':
      return p.url ? { fileData: { mimeType: mimeOfUrl(p.url), fileUri: p.url } } : { inlineData: { mimeType: p.mime ?? 'image/png', data: p.data ?? '' } };
    case 'tool_call':
      return { functionCall: { name: p.name, args: argsObject(p.args) } };
    case 'tool_result': {
      const parsed = argsObject(p.content);
      return { functionResponse: { name: p.name, response: '_raw' in parsed ? { result: p.content } : parsed } };
    }
    case 'thinking':
      return null;
  }
}

/** The common form as a Gemini generateContent body (the model is in the path). */
export function encodeGeminiRequest(r: ChatRequest): Obj {
  for (const m of r.messages) {
    for (const p of m.parts) if (p.type === 'tool_result' && p.name === '') invalid('messages', `the tool result for ${p.id} answers no tool call in the conversation (Gemini matches results to calls by name)`);
  }
  const contents = mergeRoles(r.messages).map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: m.parts.map(encodePart).filter((p): p is Obj => p !== null) }));
  const body: Obj = { contents };
  if (r.system !== null) body.systemInstruction = { parts: [{ text: r.system }] };
  if (r.tools) body.tools = [{ functionDeclarations: r.tools.map((t) => ({ name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parametersJsonSchema: t.parameters })) }];
  if (r.toolChoice && r.tools) {
    const tc = r.toolChoice;
    body.toolConfig = { functionCallingConfig: typeof tc === 'object' ? { mode: 'ANY', allowedFunctionNames: [tc.name] } : { mode: tc === 'required' ? 'ANY' : tc.toUpperCase() } };
  }
  const gc: Obj = {};
  if (r.maxTokens !== undefined) gc.maxOutputTokens = r.maxTokens;
  if (r.temperature !== undefined) gc.temperature = r.temperature;
  if (r.topP !== undefined) gc.topP = r.topP;
  if (r.topK !== undefined) gc.topK = r.topK;
  if (r.stop) gc.stopSequences = r.stop;
  if (r.seed !== undefined) gc.seed = r.seed;
  if (r.presencePenalty !== undefined) gc.presencePenalty = r.presencePenalty;
  if (r.frequencyPenalty !== undefined) gc.frequencyPenalty = r.frequencyPenalty;
  if (r.output) gc.responseMimeType = 'application/json';
  if (r.output?.type === 'json_schema') gc.responseJsonSchema = r.output.schema;
  const budget = r.thinkingBudget ?? (r.effort ? EFFORT_BUDGET[r.effort] : undefined);
  if (budget !== undefined) gc.thinkingConfig = { thinkingBudget: budget };
  if (Object.keys(gc).length > 0) body.generationConfig = gc;
  return body;
}
