/**
 * Anthropic Messages streams, event by event.
 *
 * `message_start.message.usage` gives input and cache counts and a placeholder `output_tokens`.
 * Each `message_delta.usage` is CUMULATIVE ("The token counts shown in the usage field of the
 * message_delta event are cumulative"): its output count replaces the previous one; its input and
 * cache counts, when present, are running totals too — so they can only grow, and a zero or an
 * absent field never erases a count `message_start` gave (per field, the largest value wins).
 * The usage is final once the message_delta carrying the stop reason has arrived; before that
 * (a cut or cancelled stream) output is at least the estimate of the delivered text, `estimated`.
 */
import { addText, newDelivered, notFinal } from '../billable.ts';
import { EventData, count, isObj, listed, type Obj } from '../json.ts';
import type { StreamFacts, StreamReader } from '../provider.ts';
import type { SseEvent } from '../sse.ts';
import { addBlockText, mapUsage, refusalStop, usageNotKnown } from './usage.ts';

/** Counts that are running totals in message_delta: the largest seen wins. */
const GROWING = ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

export function mergeDelta(merged: Obj, delta: Obj): void {
  for (const [k, v] of Object.entries(delta)) {
    if ((GROWING as readonly string[]).includes(k)) {
      const n = count(v);
      if (n !== undefined && n > (count(merged[k]) ?? 0)) merged[k] = n;
    } else if (v !== null && v !== undefined) {
      merged[k] = v; // output_tokens (cumulative), iterations, server_tool_use, details: the latest wins
    }
  }
}

export function streamReader(): StreamReader {
  const events = new EventData();
  const delivered = newDelivered();
  let start: unknown = null;
  let lastDelta: unknown = null;
  const merged: Obj = {};
  const unknown = new Set<string>();
  let final = false;
  let complete = false;
  let refused = false;
  let regressed = false;
  return {
    feed(ev: SseEvent) {
      const j = events.parse(ev.data);
      if (j === null) return;
      const type = typeof j.type === 'string' ? j.type : ev.event;
      switch (type) {
        case 'message_start':
          if (isObj(j.message) && j.message.usage !== undefined) {
            start = j.message.usage;
            if (isObj(start)) Object.assign(merged, start);
            usageNotKnown(start, unknown);
          }
          break;
        case 'content_block_start':
          // A tool_use block starts with an empty input; its JSON arrives in input_json_delta.
          if (isObj(j.content_block) && j.content_block.type !== 'tool_use') addBlockText(delivered, j.content_block);
          break;
        case 'content_block_delta':
          if (isObj(j.delta)) {
            const d = j.delta;
            if (d.type === 'text_delta') addText(delivered, d.text);
            else if (d.type === 'thinking_delta') addText(delivered, d.thinking);
            else if (d.type === 'input_json_delta') addText(delivered, d.partial_json);
            else if (d.type === 'compaction_delta') addText(delivered, d.content);
          }
          break;
        case 'message_delta':
          if (isObj(j.delta)) {
            if (refusalStop(j.delta)) refused = true;
            if (typeof j.delta.stop_reason === 'string') final = true;
          }
          if (j.usage !== undefined) {
            lastDelta = j.usage;
            // Cumulative: an output count below the last one is usage that moved backwards.
            if (isObj(lastDelta) && typeof lastDelta.output_tokens === 'number' && typeof merged.output_tokens === 'number' && lastDelta.output_tokens < merged.output_tokens) regressed = true;
            if (isObj(lastDelta)) mergeDelta(merged, lastDelta);
            usageNotKnown(lastDelta, unknown);
          }
          break;
        case 'message_stop':
          complete = true;
          break;
      }
    },
    result(): StreamFacts {
      const base = { delivered: { ...delivered }, refused, complete, malformed: events.malformed, ...(regressed ? { usageRegressed: true } : {}) };
      if (start === null && lastDelta === null) return { ...base, raw: null, billable: null, unknownUsage: [] };
      let billable = mapUsage(merged);
      // A delta without usage leaves output at message_start's placeholder: not final either.
      if (billable !== null && (!final || lastDelta === null)) billable = notFinal(billable, delivered);
      return { ...base, raw: { message_start: start, message_delta: lastDelta }, billable, unknownUsage: listed(unknown) };
    },
  };
}
