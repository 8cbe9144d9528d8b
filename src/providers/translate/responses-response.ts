/**
 * The common form → OpenAI Responses API answers: a response object, or its event stream
 * (response.created … output_item.added / content_part.added / output_text.delta /
 * function_call_arguments.delta … output_item.done … response.completed with the usage).
 */
import type { BillableUsage } from '../types.ts';
import { nowSeconds, type ChatResponse, type ClientEvent, type EncodeContext, type Finish, type Obj, type Part, type StreamEncoder } from './ir.ts';

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
  let seq = 0;
  const ev = (type: string, o: Obj): ClientEvent => ({ event: type, data: JSON.stringify({ type, sequence_number: seq++, ...o }) });
  const output: Obj[] = [];
  let open: { kind: 'message' | 'reasoning' | 'call'; index: number; text: string; id?: string; name?: string } | null = null;
  const calls = new Map<number, number>();
  let finish: Finish = 'stop';
  let usage: BillableUsage | null = null;
  let done = false;
  const close = (out: ClientEvent[]) => {
    if (!open) return;
    const o = open;
    open = null;
    if (o.kind === 'message') {
      const item = messageItem(ctx, o.index, o.text, true);
      const id = item.id as string;
      out.push(ev('response.output_text.done', { item_id: id, output_index: o.index, content_index: 0, text: o.text }));
      out.push(ev('response.content_part.done', { item_id: id, output_index: o.index, content_index: 0, part: { type: 'output_text', text: o.text, annotations: [] } }));
      output[o.index] = item;
    } else if (o.kind === 'reasoning') output[o.index] = reasoningItem(ctx, o.index, o.text);
    else {
      output[o.index] = callItem(o.id!, o.name!, o.text, true);
      out.push(ev('response.function_call_arguments.done', { item_id: `fc_${o.id}`, output_index: o.index, arguments: o.text }));
    }
    out.push(ev('response.output_item.done', { output_index: o.index, item: output[o.index] }));
  };
  const begin = (out: ClientEvent[], kind: 'message' | 'reasoning', item: Obj) => {
    close(out);
    open = { kind, index: output.length, text: '' };
    output.push(item);
    out.push(ev('response.output_item.added', { output_index: open.index, item }));
  };
  return {
    encode(e) {
      if (done) return [];
      const out: ClientEvent[] = [];
      switch (e.type) {
        case 'start': {
          const r = responseObject(ctx, { status: 'in_progress', incomplete_details: null }, [], null);
          out.push(ev('response.created', { response: r }), ev('response.in_progress', { response: r }));
          break;
        }
        case 'text': {
          if (open?.kind !== 'message') {
            begin(out, 'message', messageItem(ctx, output.length, '', false));
            out.push(ev('response.content_part.added', { item_id: `msg_${ctx.requestId}_${open!.index}`, output_index: open!.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
          }
          open!.text += e.text;
          out.push(ev('response.output_text.delta', { item_id: `msg_${ctx.requestId}_${open!.index}`, output_index: open!.index, content_index: 0, delta: e.text, logprobs: [] }));
          break;
        }
        case 'thinking':
          if (open?.kind !== 'reasoning') begin(out, 'reasoning', reasoningItem(ctx, output.length, ''));
          open!.text += e.text;
          out.push(ev('response.reasoning_summary_text.delta', { item_id: `rs_${ctx.requestId}_${open!.index}`, output_index: open!.index, summary_index: 0, delta: e.text }));
          break;
        case 'tool_start': {
          close(out);
          const item = callItem(e.id, e.name, '', false);
          open = { kind: 'call', index: output.length, text: '', id: e.id, name: e.name };
          calls.set(e.index, open.index);
          output.push(item);
          out.push(ev('response.output_item.added', { output_index: open.index, item }));
          break;
        }
        case 'tool_args':
          if (open?.kind === 'call' && calls.get(e.index) === open.index) {
            open.text += e.args;
            out.push(ev('response.function_call_arguments.delta', { item_id: `fc_${open.id}`, output_index: open.index, delta: e.args }));
          }
          break;
        case 'finish':
          finish = e.finish;
          break;
        case 'usage':
          usage = e.usage;
          break;
        case 'end': {
          done = true;
          close(out);
          const st = status(finish);
          out.push(ev(st.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(ctx, st, output, usage) }));
          break;
        }
      }
      return out;
    },
  };
}
