/**
 * The common form translation goes through: a chat request, a complete answer and a stream's
 * events, each provider's shape decoded into it and encoded out of it (one codec per provider,
 * providers/translate/<provider>-*.ts). Three decoders and three encoders give every pair.
 *
 * Usage in an answer is BillableUsage as the UPSTREAM's own module maps it from its raw usage
 * (the same figures the request is billed from); each encoder writes it in the caller's terms.
 */
import { AppError } from '../../kernel/errors.ts';
import type { Provider } from '../provider.ts';
import type { BillableUsage } from '../types.ts';

export type Obj = Record<string, unknown>;

export type Part =
  | { type: 'text'; text: string }
  /** An input image: a URL (http(s)) or base64 data with its media type. */
  | { type: 'image'; url?: string; data?: string; mime?: string }
  /** A call of a client-side tool; `args` is its JSON text. */
  | { type: 'tool_call'; id: string; name: string; args: string }
  /** A tool's result, answering the call with `id` (whose name is `name`). */
  | { type: 'tool_result'; id: string; name: string; content: string; isError?: boolean }
  /** Reasoning text (history or an answer's thinking). */
  | { type: 'thinking'; text: string };

export interface Message {
  role: 'user' | 'assistant';
  parts: Part[];
}

export interface Tool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Obj;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export type OutputFormat = { type: 'json' } | { type: 'json_schema'; name: string; schema: Obj; strict?: boolean };

export interface ChatRequest {
  system: string | null;
  messages: Message[];
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  tools?: Tool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  output?: OutputFormat;
  /** Reasoning effort (OpenAI reasoning_effort, Anthropic output_config.effort). */
  effort?: 'low' | 'medium' | 'high';
  /** A thinking budget in tokens (Anthropic thinking, Gemini thinkingConfig). */
  thinkingBudget?: number;
  /** An end-user id (OpenAI user, Anthropic metadata.user_id). */
  user?: string;
  /** The caller's own names of fields whose name is not OpenAI's (a refusal names what the caller sent). */
  fields?: Partial<Record<ParamName, string>>;
}

export type ParamName = 'topK' | 'seed' | 'presencePenalty' | 'frequencyPenalty' | 'output' | 'temperature';
const OPENAI_NAMES: Record<ParamName, string> = { topK: 'top_k', seed: 'seed', presencePenalty: 'presence_penalty', frequencyPenalty: 'frequency_penalty', output: 'response_format', temperature: 'temperature' };

/** The name the caller gave a parameter. */
export function fieldOf(r: ChatRequest, p: ParamName): string {
  return r.fields?.[p] ?? OPENAI_NAMES[p];
}

export type Finish = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ChatResponse {
  id: string;
  model: string;
  /** Text, thinking and tool calls, in order. */
  parts: Part[];
  finish: Finish;
  /** The stop sequence that ended the answer, when the upstream says. */
  stopSequence?: string | null;
  usage: BillableUsage | null;
}

/** A stream, provider-neutral. Decoders emit these from upstream events; encoders write the caller's. */
export type StreamEvent =
  | { type: 'start'; id: string; model: string; usage: BillableUsage | null }
  | { type: 'text'; text: string }
  | { type: 'thinking'; text: string }
  | { type: 'tool_start'; index: number; id: string; name: string }
  | { type: 'tool_args'; index: number; args: string }
  | { type: 'finish'; finish: Finish; stopSequence?: string | null }
  | { type: 'usage'; usage: BillableUsage }
  /** The upstream's end marker: the encoder closes the caller's stream its own way. */
  | { type: 'end' };

/** Context an encoder needs from the caller's request. */
export interface EncodeContext {
  /** The model as the caller named it. */
  model: string;
  /** The caller's request body (OpenAI include_usage…). */
  request: Obj;
  requestId: string;
  /** Creation time (epoch seconds) the caller's answer states; now when absent. */
  created?: number;
}

/** One client event to write: SSE `event:` name (if any) and its data. */
export interface ClientEvent {
  event?: string;
  data: string;
}

export interface StreamDecoder {
  feed(event: string | undefined, data: string): StreamEvent[];
}

export interface StreamEncoder {
  encode(ev: StreamEvent): ClientEvent[];
}

/** A parameter the target API cannot honour: refused, naming it (400 TRANSLATION_UNSUPPORTED). */
export function unsupported(field: string, target: Provider, why = `has no equivalent in the ${target} API`): never {
  throw new AppError('TRANSLATION_UNSUPPORTED', `${field}: ${why}; it cannot be translated (see the README's translation table).`, { field });
}

/** A request field that is malformed for translation (400 VALIDATION, naming it). */
export function invalid(field: string, problem: string): never {
  throw new AppError('VALIDATION', `${field}: ${problem}`, { field });
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function given(v: unknown): boolean {
  return v !== undefined && v !== null;
}

export function num(v: unknown, field: string): number | undefined {
  if (!given(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) invalid(field, 'must be a number');
  return v;
}

export function str(v: unknown, field: string): string | undefined {
  if (!given(v)) return undefined;
  if (typeof v !== 'string') invalid(field, 'must be a string');
  return v;
}

/** JSON text of tool arguments given as an object (Anthropic input, Gemini args) or already as text. */
export function argsText(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v ?? {});
}

/** Tool arguments as an object (for Anthropic input / Gemini args); text that is not a JSON object is wrapped. */
export function argsObject(text: string): Obj {
  if (text.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    if (isObj(v)) return v;
  } catch {
    // not JSON: kept as text below
  }
  return { _raw: text };
}

/** Splits a data: URL into media type and base64 data. */
export function parseDataUrl(url: string): { mime: string; data: string } | null {
  const m = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  return m ? { mime: m[1]!, data: m[2]! } : null;
}

/** Text of tool-result content given as a string or an array of text blocks/parts. */
export function flatText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return v === undefined || v === null ? '' : JSON.stringify(v);
  return v.map((b) => (isObj(b) && typeof b.text === 'string' ? b.text : isObj(b) ? JSON.stringify(b) : String(b))).join('');
}

/** Merges consecutive messages of one role (Anthropic and Gemini require alternation). */
export function mergeRoles(messages: Message[]): Message[] {
  const out: Message[] = [];
  for (const m of messages) {
    const last = out.at(-1);
    if (last && last.role === m.role) last.parts.push(...m.parts);
    else out.push({ role: m.role, parts: [...m.parts] });
  }
  return out;
}

let seq = 0;
/** A tool-call id for upstreams that give none (Gemini). */
export function callId(): string {
  seq = (seq + 1) % 1_000_000_000;
  return `call_${Date.now().toString(36)}${seq.toString(36)}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
