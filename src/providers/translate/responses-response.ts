/**
 * The common form → OpenAI Responses API answers: a response object, or its event stream
 * (response.created … output_item.added / content_part.added / output_text.delta /
 * function_call_arguments.delta … output_item.done … response.completed with the usage).
 */
import type { BillableUsage } from '../types.ts';
import { nowSeconds, type ChatResponse, type ClientEvent, type EncodeContext, type Finish, type Obj, type Part, type StreamEncoder, type StreamEvent } from './ir.ts';

/** Billable usage as the Responses API reports it: input_tokens includes cached tokens, output_tokens reasoning. */
export function responsesUsage(u: BillableUsage): Obj {
  const input = u.input_tokens + u.cached_input_tokens + u.cache_write_tokens;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.cached_input_tokens },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: input + u.output_tokens,
  };
}

function status(f: Finish): { status: string; incomplete_details: Obj | null } {
  if (f === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (f === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

function responseObject(ctx: EncodeContext, state: { status: string; incomplete_details: Obj | null }, output: Obj[], usage: BillableUsage | null): Obj {
  const text = output.filter((o) => o.type === 'message').flatMap((o) => (o.content as Obj[]).map((c) => String(c.text ?? ''))).join('');
  return {
    id: `resp_${ctx.requestId}`,
    object: 'response',
    created_at: ctx.created ?? nowSeconds(),
    ...state,
    model: ctx.model,
    output,
    output_text: text,
    error: null,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    usage: usage ? responsesUsage(usage) : null,
  };
}

const messageItem = (ctx: EncodeContext, n: number, text: string, done: boolean): Obj => ({
  type: 'message',
  id: `msg_${ctx.requestId}_${n}`,
  status: done ? 'completed' : 'in_progress',
  role: 'assistant',
  content: done ? [{ type: 'output_text', text, annotations: [] }] : [],
});
const callItem = (id: string, name: string, args: string, done: boolean): Obj => ({ type: 'function_call', id: `fc_${id}`, call_id: id, name, arguments: args, status: done ? 'completed' : 'in_progress' });
const reasoningItem = (ctx: EncodeContext, n: number, text: string): Obj => ({ type: 'reasoning', id: `rs_${ctx.requestId}_${n}`, summary: text ? [{ type: 'summary_text', text }] : [] });

export function encodeResponsesResponse(r: ChatResponse, ctx: EncodeContext): Obj {
  const output: Obj[] = [];
  const text = (ps: Part[]) => ps.map((p) => ('text' in p ? p.text : '')).join('');
  const thinking = r.parts.filter((p) => p.type === 'thinking');
  if (thinking.length > 0) output.push(reasoningItem(ctx, 0, text(thinking)));
  const texts = r.parts.filter((p) => p.type === 'text');
  if (texts.length > 0) output.push(messageItem(ctx, output.length, text(texts), true));
  for (const p of r.parts) if (p.type === 'tool_call') output.push(callItem(p.id, p.name, p.args, true));
  return responseObject(ctx, status(r.finish), output, r.usage);
}

/** The Responses event stream. Items are opened as their first delta arrives and closed when the next kind starts or at the end. */
export function responsesEncoder(ctx: EncodeContext): StreamEncoder {
  return new ResponsesStream(ctx);
}

interface OpenItem {
  kind: 'message' | 'reasoning' | 'call';
  index: number;
  text: string;
  id?: string;
  name?: string;
}

class ResponsesStream implements StreamEncoder {
  private readonly ctx: EncodeContext;
  private seq = 0;
  private readonly output: Obj[] = [];
  private open: OpenItem | null = null;
  private readonly calls = new Map<number, number>();
  private finish: Finish = 'stop';
  private usage: BillableUsage | null = null;
  private done = false;

  constructor(ctx: EncodeContext) {
    this.ctx = ctx;
  }

  private ev(type: string, o: Obj): ClientEvent {
    return { event: type, data: JSON.stringify({ type, sequence_number: this.seq++, ...o }) };
  }

  private itemId(o: OpenItem): string {
    return o.kind === 'call' ? `fc_${o.id}` : `${o.kind === 'message' ? 'msg' : 'rs'}_${this.ctx.requestId}_${o.index}`;
  }

  private close(out: ClientEvent[]): void {
    const o = this.open;
    if (!o) return;
    this.open = null;
    const id = this.itemId(o);
    if (o.kind === 'message') {
      out.push(this.ev('response.output_text.done', { item_id: id, output_index: o.index, content_index: 0, text: o.text }));
      out.push(this.ev('response.content_part.done', { item_id: id, output_index: o.index, content_index: 0, part: { type: 'output_text', text: o.text, annotations: [] } }));
      this.output[o.index] = messageItem(this.ctx, o.index, o.text, true);
    } else if (o.kind === 'reasoning') this.output[o.index] = reasoningItem(this.ctx, o.index, o.text);
    else {
      out.push(this.ev('response.function_call_arguments.done', { item_id: id, output_index: o.index, arguments: o.text }));
      this.output[o.index] = callItem(o.id!, o.name!, o.text, true);
    }
    out.push(this.ev('response.output_item.done', { output_index: o.index, item: this.output[o.index] }));
  }

  /** Closes the open item and opens `item` of `kind`. */
  private begin(out: ClientEvent[], kind: OpenItem['kind'], item: Obj, extra: Partial<OpenItem> = {}): OpenItem {
    this.close(out);
    const o: OpenItem = { kind, index: this.output.length, text: '', ...extra };
    this.open = o;
    this.output.push(item);
    out.push(this.ev('response.output_item.added', { output_index: o.index, item }));
    return o;
  }

  encode(e: StreamEvent): ClientEvent[] {
    if (this.done) return [];
    const out: ClientEvent[] = [];
    const ctx = this.ctx;
    let o = this.open;
    switch (e.type) {
      case 'start': {
        const r = responseObject(ctx, { status: 'in_progress', incomplete_details: null }, [], null);
        out.push(this.ev('response.created', { response: r }), this.ev('response.in_progress', { response: r }));
        break;
      }
      case 'text':
        if (o?.kind !== 'message') {
          o = this.begin(out, 'message', messageItem(ctx, this.output.length, '', false));
          out.push(this.ev('response.content_part.added', { item_id: this.itemId(o), output_index: o.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
        }
        o.text += e.text;
        out.push(this.ev('response.output_text.delta', { item_id: this.itemId(o), output_index: o.index, content_index: 0, delta: e.text, logprobs: [] }));
        break;
      case 'thinking':
        if (o?.kind !== 'reasoning') o = this.begin(out, 'reasoning', reasoningItem(ctx, this.output.length, ''));
        o.text += e.text;
        out.push(this.ev('response.reasoning_summary_text.delta', { item_id: this.itemId(o), output_index: o.index, summary_index: 0, delta: e.text }));
        break;
      case 'tool_start':
        o = this.begin(out, 'call', callItem(e.id, e.name, '', false), { id: e.id, name: e.name });
        this.calls.set(e.index, o.index);
        break;
      case 'tool_args':
        if (o?.kind === 'call' && this.calls.get(e.index) === o.index) {
          o.text += e.args;
          out.push(this.ev('response.function_call_arguments.delta', { item_id: this.itemId(o), output_index: o.index, delta: e.args }));
        }
        break;
      case 'finish':
        this.finish = e.finish;
        break;
      case 'usage':
        this.usage = e.usage;
        break;
      case 'end': {
        this.done = true;
        this.close(out);
        const st = status(this.finish);
        out.push(this.ev(st.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(ctx, st, this.output, this.usage) }));
        break;
      }
    }
    return out;
  }
}
