/**
 * Gemini streams (`streamGenerateContent?alt=sse`): every chunk may carry `usageMetadata` with
 * running totals; the last one wins. The stream (and its usage) is final once a candidate has a
 * `finishReason`; before that (a cut or cancelled stream) the counts are running totals — often
 * the prompt only — so output is at least the estimate of the delivered text, `estimated`.
 */
import { newDelivered, notFinal, withImages } from '../billable.ts';
import { EventData, isObj } from '../json.ts';
import type { StreamFacts, StreamReader } from '../provider.ts';
import type { SseEvent } from '../sse.ts';
import type { Endpoint, ImageRequestParams } from '../types.ts';
import { addCandidates, blocked, mapEmbeddingsUsage, mapUsage, refused, usageNotKnown } from './usage.ts';

export function streamReader(endpoint: Endpoint, image: ImageRequestParams): StreamReader {
  const events = new EventData();
  const delivered = newDelivered();
  let raw: unknown = null;
  let complete = false;
  let sawBlock = false;
  let regressed = false;
  return {
    feed(ev: SseEvent) {
      const j = events.parse(ev.data);
      if (j === null) return;
      if (j.usageMetadata !== undefined && j.usageMetadata !== null) {
        // Running totals: one lower than the last is usage that moved backwards.
        if (isObj(raw) && isObj(j.usageMetadata) && lower(j.usageMetadata, raw)) regressed = true;
        raw = j.usageMetadata;
      }
      addCandidates(j, delivered);
      if (blocked(j)) sawBlock = true;
      if (Array.isArray(j.candidates)) {
        for (const c of j.candidates) if (isObj(c) && typeof c.finishReason === 'string' && c.finishReason.length > 0) complete = true;
      }
      // A blocked prompt has no candidates: its only chunk is the end of the stream.
      if (isObj(j.promptFeedback) && typeof j.promptFeedback.blockReason === 'string') complete = true;
    },
    result(): StreamFacts {
      let billable = endpoint === 'embeddings' ? mapEmbeddingsUsage(raw) : mapUsage(raw);
      if (billable !== null && !complete) billable = notFinal(billable, delivered);
      if (endpoint === 'images') billable = withImages(billable, delivered.images, image);
      return {
        raw,
        billable,
        delivered: { ...delivered },
        refused: refused(sawBlock, delivered),
        unknownUsage: usageNotKnown(raw),
        complete,
        malformed: events.malformed,
        ...(regressed ? { usageRegressed: true } : {}),
      };
    },
  };
}

const RUNNING = ['promptTokenCount', 'candidatesTokenCount', 'totalTokenCount', 'thoughtsTokenCount'];

/** Whether a running total in `now` is below the same total in `before`. */
function lower(now: Record<string, unknown>, before: Record<string, unknown>): boolean {
  return RUNNING.some((k) => typeof now[k] === 'number' && typeof before[k] === 'number' && (now[k] as number) < (before[k] as number));
}
