/**
 * Anthropic Messages usage, delivered content and refusals of JSON responses. The mapping is
 * documented in docs/pricing.md; the raw usage object is returned verbatim next to it.
 */
import { addJson, addText, billableUsage, newDelivered } from '../billable.ts';
import { count, isObj, listed, unknownUsage, type Obj, type UsageSpec } from '../json.ts';
import type { ResponseFacts } from '../provider.ts';
import type { BillableUsage, Delivered, Endpoint } from '../types.ts';

/** Iterations run by the requested model; the others (advisor, fallback) ran on another model with another price. */
const SAME_MODEL_ITERATIONS = new Set(['message', 'compaction']);

const ITERATION: UsageSpec = {
  type: 'info',
  model: 'info',
  input_tokens: 'count',
  output_tokens: 'count',
  cache_read_input_tokens: 'count',
  cache_creation_input_tokens: 'count',
  cache_creation: { ephemeral_5m_input_tokens: 'info', ephemeral_1h_input_tokens: 'unpriced' },
};

function iterations(v: unknown, at: string, out: Set<string>): void {
  if (!Array.isArray(v)) return;
  for (const it of v) {
    if (!isObj(it)) continue;
    // Billed at this model's rates (the only ones known), and flagged.
    if (typeof it.type !== 'string' || !SAME_MODEL_ITERATIONS.has(it.type)) out.add(`${at}.${String(it.type)}`);
    unknownUsage(it, ITERATION, out, at);
  }
}

/** A value that makes Anthropic charge more than the price book says (fast mode, US-only inference). */
const premium = (premiumValue: string) => (v: unknown, at: string, out: Set<string>) => {
  if (v === premiumValue) out.add(`${at}=${premiumValue}`);
};

/**
 * The usage fields Anthropic documents (Messages API `Usage` and `MessageDeltaUsage`, beta
 * `iterations`). 1-hour cache writes (2× input instead of 1.25×) and web searches ($10 per 1,000)
 * have no price here: listed when non-zero. Web fetches are free.
 */
export const USAGE: UsageSpec = {
  input_tokens: 'count',
  output_tokens: 'count',
  cache_creation_input_tokens: 'count',
  cache_read_input_tokens: 'count',
  cache_creation: { ephemeral_5m_input_tokens: 'info', ephemeral_1h_input_tokens: 'unpriced' },
  output_tokens_details: { thinking_tokens: 'info' },
  server_tool_use: { web_search_requests: 'unpriced', web_fetch_requests: 'info' },
  service_tier: 'info',
  inference_geo: premium('us'),
  speed: premium('fast'),
  iterations,
  fallback_credit: 'info',
};

interface Counts {
  input: number;
  read: number;
  write: number;
  output: number;
}

/** cache_creation_input_tokens, or the sum of its 5-minute and 1-hour parts when only those are given. */
function cacheWrites(u: Obj): number | undefined {
  const total = count(u.cache_creation_input_tokens);
  if (total !== undefined || !isObj(u.cache_creation)) return total;
  const cc = u.cache_creation;
  const five = count(cc.ephemeral_5m_input_tokens);
  const hour = count(cc.ephemeral_1h_input_tokens);
  return five === undefined && hour === undefined ? undefined : (five ?? 0) + (hour ?? 0);
}

function counts(u: Obj): Counts {
  return { input: count(u.input_tokens) ?? 0, read: count(u.cache_read_input_tokens) ?? 0, write: cacheWrites(u) ?? 0, output: count(u.output_tokens) ?? 0 };
}

function add(a: Counts, b: Counts): void {
  a.input += b.input;
  a.read += b.read;
  a.write += b.write;
  a.output += b.output;
}

/**
 * Messages `usage`. `input_tokens` EXCLUDES cache reads and writes: input = input_tokens, cached =
 * cache_read_input_tokens, cache_write = cache_creation_input_tokens (5-minute and 1-hour writes
 * together), output = output_tokens (thinking included; `output_tokens_details.thinking_tokens`
 * is its informational part).
 *
 * With server-side compaction, `iterations` lists every sampling pass. The top-level counts are
 * the sum of the non-compaction iterations and do NOT include compaction passes, which are billed
 * too ("sum across all entries in the usage.iterations array"). So each count is the top-level one
 * (or the non-compaction iterations' sum, if larger) plus the compaction iterations': every token
 * billed exactly once.
 */
export function mapUsage(u: unknown): BillableUsage | null {
  if (!isObj(u)) return null;
  const its = Array.isArray(u.iterations) ? u.iterations.filter(isObj) : [];
  const known = [u.input_tokens, u.output_tokens, u.cache_read_input_tokens, cacheWrites(u)].some((v) => count(v) !== undefined);
  if (!known && its.length === 0) return null;
  const total = counts(u);
  if (its.length > 0) {
    const passes: Counts = { input: 0, read: 0, write: 0, output: 0 };
    const compaction: Counts = { input: 0, read: 0, write: 0, output: 0 };
    for (const it of its) add(it.type === 'compaction' ? compaction : passes, counts(it));
    total.input = Math.max(total.input, passes.input) + compaction.input;
    total.read = Math.max(total.read, passes.read) + compaction.read;
    total.write = Math.max(total.write, passes.write) + compaction.write;
    total.output = Math.max(total.output, passes.output) + compaction.output;
  }
  const details = isObj(u.output_tokens_details) ? u.output_tokens_details : undefined;
  return billableUsage({
    input_tokens: total.input,
    cached_input_tokens: total.read,
    cache_write_tokens: total.write,
    output_tokens: total.output,
    reasoning_tokens: Math.min(count(details?.thinking_tokens) ?? 0, total.output),
  });
}

export function usageNotKnown(raw: unknown, out: Set<string> = new Set()): Set<string> {
  return unknownUsage(raw, USAGE, out);
}

/** Anthropic's refusal marker, the same for a message and for a stream's message_delta: `stop_reason: "refusal"`. */
export function refusalStop(o: Obj): boolean {
  return o.stop_reason === 'refusal';
}

/** Text of one content block (or of the start of a streamed one). */
export function addBlockText(d: Delivered, b: Obj): void {
  if (b.type === 'text') addText(d, b.text);
  else if (b.type === 'thinking') addText(d, b.thinking);
  else if (b.type === 'tool_use') addJson(d, b.input);
  else if (b.type === 'compaction') addText(d, b.content);
}

export function readResponse(endpoint: Endpoint, json: unknown): ResponseFacts {
  const delivered = newDelivered();
  if (!isObj(json) || endpoint !== 'chat') return { raw: null, billable: null, delivered, refused: false, unknownUsage: [] };
  if (Array.isArray(json.content)) for (const b of json.content) if (isObj(b)) addBlockText(delivered, b);
  const raw = json.usage ?? null;
  return { raw, billable: mapUsage(raw), delivered, refused: refusalStop(json), unknownUsage: listed(usageNotKnown(raw)) };
}
