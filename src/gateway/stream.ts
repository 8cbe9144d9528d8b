// Forwarding a streamed answer: chunks go to the client as they arrive (re-framed only where the
// client's API needs it), while the provider's stream reader counts usage, delivered content and
// refusals event by event. The policy judges the stream once it ends; its verdict decides the tail.

import type { ServerResponse } from 'node:http';
import type { ProviderModule } from '../providers/provider.ts';
import { createSseParser, type SseEvent } from '../providers/sse.ts';
import type { StreamTranslator } from '../providers/translate/index.ts';
import { judgeAttempt, type AttemptResult, type Verdict } from '../requests/policy.ts';
import type { Flight } from './flight.ts';
import { transportFailure, type UpstreamAnswer } from './upstream.ts';

/**
 * Streams an upstream SSE answer to the client and ends it as the policy's verdict says. The client
 * sets the pace: while its socket is full the upstream is not read (backpressure), for `stallMs` at
 * most; a client that reads nothing for that long is cut, as if it had left.
 */
export async function pipeStream(
  f: Flight,
  res: ServerResponse,
  upstream: UpstreamAnswer,
  upstreamApi: ProviderModule,
  translator: StreamTranslator | null,
  stallMs: number,
): Promise<{ result: AttemptResult; verdict: Verdict }> {
  const { call, api } = f;
  const parser = createSseParser();
  // Metered by the upstream's own module (the caller's, unless translated).
  const reader = upstreamApi.streamReader(f.endpoint, f.facts!.image);
  // Gemini without alt=sse answers a JSON array of the same objects.
  const asArray = api.name === 'gemini' && call.geminiSse === false;
  const keep = asArray || translator ? null : (api.clientStreamFilter?.(f.endpoint, call.body) ?? null);
  const reframe = asArray || keep !== null || translator !== null;
  let arrayOpen = false;
  res.writeHead(200, {
    'content-type': asArray ? 'application/json' : 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...api.requestIdHeaders(call.requestId),
    'x-accel-buffering': 'no',
  });
  const out = new StreamOut(res, f, upstream, stallMs);
  // Re-framed events of one upstream chunk go out in one write, as the chunk would have.
  let pending = '';
  const write = (ev: SseEvent) => {
    if (asArray) {
      pending += `${arrayOpen ? ',\r\n' : '['}${ev.data}`;
      arrayOpen = true;
    } else pending += ev.event ? `event: ${ev.event}\ndata: ${ev.data}\n\n` : `data: ${ev.data}\n\n`;
  };
  const flush = () => {
    if (pending === '') return;
    out.write(pending);
    pending = '';
  };
  const forward = translator
    ? (ev: SseEvent) => {
        for (const t of translator.feed(ev)) write(t);
      }
    : (ev: SseEvent) => {
        if (asArray || keep!(ev.data)) write(ev);
      };
  let broken: { timeout: boolean; detail: string } | null = null;
  try {
    // Each chunk as undici reads it off the socket, in the same tick (no stream, no promise per chunk).
    await upstream.each((buf) => {
      f.chunks++;
      f.bytes += buf.length;
      const events = parser.push(buf);
      for (const ev of events) reader.feed(ev);
      // Strict durability: the chunk that carries the end marker keeps its last byte until the commit.
      const ending = f.strict && !out.holding && events.length > 0 && reader.result().complete;
      if (ending) out.hold();
      // Without re-framing the bytes go out as they came; re-framed, in one write per chunk.
      if (!reframe) out.write(buf);
      else {
        for (const ev of events) forward(ev);
        flush();
      }
      if (ending) out.sendAllButLastByte();
      f.reachedClient = true;
    });
    const rest = parser.end();
    for (const ev of rest) {
      reader.feed(ev);
      if (reframe) forward(ev);
    }
    flush();
  } catch (err) {
    broken = transportFailure(err);
  }
  out.release();
  const facts = reader.result();
  f.final = facts.complete;
  const result: AttemptResult = { kind: 'stream', endpoint: f.endpoint, facts, broken, clientGone: f.clientGone };
  const judged = judgeAttempt(result);
  const verdict = out.stalled && judged.outcome === 'client_cancelled' ? { ...judged, detail: `the client read nothing for ${stallMs} ms` } : judged;
  endStream(f, res, out, verdict, asArray, arrayOpen);
  return { result, verdict };
}

/** Ends the client's stream: an error event in its API's shape when the stream broke off. */
function endStream(f: Flight, res: ServerResponse, out: StreamOut, v: Verdict, asArray: boolean, arrayOpen: boolean): void {
  if (res.destroyed) return;
  if (v.outcome === 'client_cancelled') {
    res.destroy();
    return;
  }
  let last: string | undefined;
  if (v.code === 'UPSTREAM_STREAM_CUT') {
    const payload = JSON.stringify(f.api.errorBody(502, 'UPSTREAM_ERROR', 'The upstream stream broke off; this request is not billed.', f.call.requestId));
    if (asArray) last = `${arrayOpen ? ',\r\n' : '['}${payload}]`;
    else if (f.api.name === 'anthropic') last = `event: error\ndata: ${payload}\n\n`;
    else last = `data: ${payload}\n\n`;
  } else if (asArray) {
    last = arrayOpen ? ']' : '[]';
  }
  if (f.strict) f.tail = () => out.end(last);
  else out.end(last);
}

/**
 * The client side of a stream. A write that fills the client's socket pauses the upstream until
 * the socket drains, so a slow reader holds one socket's worth in memory, not the whole answer; the
 * time it holds the upstream back is the client's (f.heldMs: the deadline and the attempt's time
 * leave it out). In strict durability, from the chunk that carries the end marker on (`hold`), the
 * bytes wait in memory — all but the last one of that chunk are sent at once — until `end`, which
 * the gateway calls only after the row and its charge have committed.
 */
class StreamOut {
  private held: Array<Buffer | string> | null = null;
  private readonly res: ServerResponse;
  private readonly f: Flight;
  private readonly upstream: UpstreamAnswer;
  private readonly stallMs: number;
  private stall: NodeJS.Timeout | null = null;
  /** The client read nothing for stallMs and was cut. */
  stalled = false;

  constructor(res: ServerResponse, f: Flight, upstream: UpstreamAnswer, stallMs: number) {
    this.res = res;
    this.f = f;
    this.upstream = upstream;
    this.stallMs = stallMs;
  }

  get holding(): boolean {
    return this.held !== null;
  }

  write(data: Buffer | string): void {
    if (this.held) this.held.push(data);
    else if (!this.res.write(data)) this.wait();
  }

  /** The client's socket is full: the upstream waits until it drains, for stallMs at most. */
  private wait(): void {
    if (this.f.heldSince !== null || this.res.destroyed) return;
    this.f.heldSince = performance.now();
    this.upstream.pause();
    this.res.once('drain', this.drained);
    this.stall = setTimeout(() => {
      this.stalled = true;
      // As if the client had left: the gateway's close handler cuts the upstream.
      this.res.destroy();
    }, this.stallMs);
  }

  private readonly drained = (): void => {
    this.release();
    this.upstream.resume();
  };

  /** Ends a wait for the client, if one is on: its time is counted as the client's. */
  release(): void {
    if (this.f.heldSince === null) return;
    this.f.heldMs += performance.now() - this.f.heldSince;
    this.f.heldSince = null;
    clearTimeout(this.stall!);
    this.stall = null;
    this.res.off('drain', this.drained);
  }

  hold(): void {
    this.held ??= [];
  }

  sendAllButLastByte(): void {
    const b = Buffer.concat((this.held ?? []).map((d) => (typeof d === 'string' ? Buffer.from(d) : d)));
    if (b.length > 1) this.res.write(b.subarray(0, b.length - 1));
    this.held = b.length > 0 ? [b.subarray(b.length - 1)] : [];
  }

  end(last?: string): void {
    for (const d of this.held ?? []) this.res.write(d);
    this.held = null;
    this.res.end(last);
  }
}
