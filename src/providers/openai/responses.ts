/**
 * The OpenAI Responses API (`POST /v1/responses`) on OpenAI channels: request validation and
 * input text, usage, delivered content and refusals of a response object and of its event stream.
 *
 * Usage: `input_tokens` INCLUDES `input_tokens_details.cached_tokens` (and `cache_write_tokens`),
 * so input = input_tokens − cached − cache_write; `output_tokens` includes
 * `output_tokens_details.reasoning_tokens`, all billed as output (as chat completions).
 * A stream ends with `response.completed` or `response.incomplete` carrying the final response
 * and its usage; `response.failed` or a stream cut before them has no final usage.
 */
import { addText, newDelivered, notFinal } from '../billable.ts';
import { EventData, count, isObj, listed, unknownUsage, type Obj, type UsageSpec } from '../json.ts';
import type { ResponseFacts, StreamFacts, StreamReader } from '../provider.ts';
import { MAX_OUTPUT_TOKENS, fail, given, readInt, readObjects } from '../request.ts';
import type { SseEvent } from '../sse.ts';
import { visitJson, visitStr, type Visit } from '../tokens.ts';
import type { BillableUsage, Delivered } from '../types.ts';
import { splitTokens } from './usage.ts';

export const RESPONSES_USAGE: UsageSpec = {
  input_tokens: 'count',
  input_tokens_details: { cached_tokens: 'count', cache_write_tokens: 'count', cache_write_tokens_details: { ttl_12h_tokens: 'info', ttl_30m_tokens: 'info' } },
  output_tokens: 'count',
  output_tokens_details: { reasoning_tokens: 'info' },
  total_tokens: 'info',
};

export function mapResponsesUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  return splitTokens(u.input_tokens, u.input_tokens_details, u.output_tokens, u.output_tokens_details);
}

/** The input text of a Responses request: instructions, input (a string or items), tool definitions. */
export function walkResponses(body: Obj, visit: Visit): void {
  visitStr(body.instructions, visit);
  const input = body.input;
  if (typeof input === 'string') visit(input);
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (!isObj(item)) continue;
      if (typeof item.content === 'string') visit(item.content);
      else if (Array.isArray(item.content)) for (const p of item.content) if (isObj(p)) visitStr(p.text, visit);
      visitStr(item.arguments, visit);
      visitStr(item.output, visit);
    }
  }
  if (Array.isArray(body.tools)) for (const t of body.tools) visitJson(t, visit);
  if (isObj(body.text) && isObj(body.text.format)) visitJson(body.text.format.schema, visit);
}

/** Validates what Surety reads of a Responses request; returns max_output_tokens. */
export function checkResponsesRequest(body: Obj, form: boolean): number | undefined {
  const input = body.input;
  if (!given(input)) fail('input', 'is required');
  if (typeof input !== 'string') readObjects(input, 'input');
  if (given(body.instructions) && typeof body.instructions !== 'string') fail('instructions', 'must be a string');
  readObjects(body.tools, 'tools');
  return readInt(body, 'max_output_tokens', 1, MAX_OUTPUT_TOKENS, form);
}

/** Text delivered by output items: messages (text, refusals), function call arguments, reasoning summaries. */
function addOutput(d: Delivered, output: unknown): void {
  if (!Array.isArray(output)) return;
  for (const item of output) {
    if (!isObj(item)) continue;
    if (Array.isArray(item.content)) for (const p of item.content) if (isObj(p)) addText(d, p.text ?? p.refusal);
    if (Array.isArray(item.summary)) for (const p of item.summary) if (isObj(p)) addText(d, p.text);
    addText(d, item.arguments);
  }
}

/** Refused on content policy: OpenAI ends such a response as incomplete with reason content_filter. */
function filtered(r: Obj): boolean {
  return isObj(r.incomplete_details) && r.incomplete_details.reason === 'content_filter';
}

export function isResponseObject(json: Obj): boolean {
  return json.object === 'response';
}

export function readResponsesResponse(json: Obj): ResponseFacts {
  const delivered = newDelivered();
  addOutput(delivered, json.output);
  const raw = json.usage ?? null;
  return { raw, billable: mapResponsesUsage(raw), delivered, refused: filtered(json), unknownUsage: listed(unknownUsage(raw, RESPONSES_USAGE)) };
}

/** Does this event belong to a Responses stream (`event: response.…` or `{"type":"response.…"}`)? */
export function isResponsesEvent(ev: SseEvent): boolean {
  if (ev.event !== undefined) return ev.event.startsWith('response.');
  return /^\s*\{\s*"type"\s*:\s*"response\./.test(ev.data);
}

export function responsesStream(): StreamReader {
  const events = new EventData();
  const delivered = newDelivered();
  let raw: unknown = null;
  let complete = false;
  let refused = false;
  return {
    feed(ev: SseEvent) {
      const j = events.parse(ev.data);
      if (j === null) return;
      const type = typeof j.type === 'string' ? j.type : ev.event;
      if (type === 'response.output_text.delta' || type === 'response.refusal.delta' || type === 'response.function_call_arguments.delta' || type === 'response.reasoning_summary_text.delta') {
        addText(delivered, j.delta);
      } else if ((type === 'response.completed' || type === 'response.incomplete') && isObj(j.response)) {
        complete = true;
        if (j.response.usage !== undefined) raw = j.response.usage;
        if (filtered(j.response)) refused = true;
      }
    },
    result(): StreamFacts {
      let billable = mapResponsesUsage(raw);
      if (billable !== null && !complete) billable = notFinal(billable, delivered);
      return { raw, billable, delivered: { ...delivered }, refused, unknownUsage: listed(unknownUsage(raw, RESPONSES_USAGE)), complete, malformed: events.malformed };
    },
  };
}
