// The load of the chaos scenarios: real HTTP to a gateway, a mix of the three provider APIs, JSON
// and streamed, across several keys. Every shot is recorded with its request id, status and
// whether the client received the answer in full (a stream's end marker included).
import { Agent, request } from 'undici';
import type { ChaosKey } from './harness.ts';

export type Kind = 'openai' | 'openai-stream' | 'anthropic' | 'anthropic-stream' | 'gemini' | 'gemini-stream';
export const KINDS: readonly Kind[] = ['openai', 'openai-stream', 'anthropic', 'anthropic-stream', 'gemini', 'gemini-stream'];

export interface Shot {
  kind: Kind;
  key: ChaosKey;
  id: string | null;
  status: number;
  /** The client received the whole answer (a 2xx, with a stream's end marker). */
  complete: boolean;
  /** The answer began (headers) — e.g. a stream cut off by a kill. */
  began: boolean;
  start: number;
  end: number;
  ms: number;
  retryAfter: string | null;
  code: string | null;
  text: string;
  /** Simulator directives the request carried. */
  extra: string;
}

export interface Target {
  url: string;
  agent: Agent;
}

export function target(url: string, connections = 256): Target {
  return { url, agent: new Agent({ connections, keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 60_000 }) };
}

/** The request of a kind; `extra` (simulator directives) goes into the prompt. */
function shape(kind: Kind, key: string, extra: string): { path: string; headers: Record<string, string>; body: string; stream: boolean } {
  const text = `chaos ${Math.random().toString(36).slice(2, 8)} ${extra}`;
  const stream = kind.endsWith('-stream');
  if (kind.startsWith('openai')) {
    return { path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` }, stream, body: JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: text }] }) };
  }
  if (kind.startsWith('anthropic')) {
    return {
      path: '/v1/messages',
      headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01' },
      stream,
      body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 64, stream, messages: [{ role: 'user', content: text }] }),
    };
  }
  return {
    path: `/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    headers: { 'x-goog-api-key': key },
    stream,
    body: JSON.stringify({ contents: [{ parts: [{ text }] }] }),
  };
}

/** Did the client receive the whole answer? JSON that parses; a stream with its end marker. */
function isComplete(kind: Kind, status: number, text: string): boolean {
  if (status < 200 || status >= 300) return false;
  if (kind === 'openai-stream') return text.endsWith('data: [DONE]\n\n');
  if (kind === 'anthropic-stream') return /event: message_stop\ndata: [^\n]*\n\n$/.test(text);
  if (kind === 'gemini-stream') return /"finishReason"/.test(text) && /\r?\n\r?\n$/.test(text);
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** One request; never throws (a transport error is a shot with status 0). */
export async function shoot(t: Target, kind: Kind, key: ChaosKey, extra = '', signal?: AbortSignal): Promise<Shot> {
  const s = shape(kind, key.key, extra);
  const start = Date.now();
  const t0 = performance.now();
  let status = 0;
  let id: string | null = null;
  let text = '';
  let began = false;
  let retryAfter: string | null = null;
  try {
    const r = await request(t.url + s.path, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body: s.body, dispatcher: t.agent, ...(signal ? { signal } : {}) });
    status = r.statusCode;
    began = true;
    id = (r.headers['x-request-id'] as string | undefined) ?? null;
    retryAfter = (r.headers['retry-after'] as string | undefined) ?? null;
    text = await r.body.text();
  } catch {
    // the connection broke (a kill, an overload): whatever arrived is what the client has
  }
  const end = Date.now();
  let code: string | null = null;
  if (status >= 400) code = /"(?:code|reason)":"([A-Z_]+)"/.exec(text)?.[1] ?? null;
  return { kind, key, id, status, complete: isComplete(kind, status, text), began, start, end, ms: performance.now() - t0, retryAfter, code, text: status >= 400 ? text.slice(0, 300) : '', extra };
}

export interface LoopOptions {
  concurrency: number;
  keys: readonly ChaosKey[];
  random: () => number;
  /** Simulator directives for the next request ('' for none). */
  extra?: (kind: Kind) => string;
  kinds?: readonly Kind[];
  /** Stop sending new requests when this returns true. */
  stop: () => boolean;
  /** Pause between a worker's requests, ms (0: closed loop). */
  pauseMs?: number;
}

/** A closed loop: `concurrency` workers, each sending its next request when the last one ends. */
export async function closedLoop(t: Target, o: LoopOptions): Promise<Shot[]> {
  const shots: Shot[] = [];
  const kinds = o.kinds ?? KINDS;
  const worker = async () => {
    while (!o.stop()) {
      const kind = kinds[Math.floor(o.random() * kinds.length)]!;
      const key = o.keys[Math.floor(o.random() * o.keys.length)]!;
      shots.push(await shoot(t, kind, key, o.extra?.(kind) ?? ''));
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return shots;
}
