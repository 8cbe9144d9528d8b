// The simulator's routing: which API and operation a method and path name (the model from the path
// for Gemini), the caller's key from any of the ways the three SDKs send it, and reading a body.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from './types.ts';
import type { Obj } from './util.ts';

export type Kind =
  | 'chat' | 'responses' | 'embeddings' | 'images' | 'edits' | 'models' | 'model'
  | 'messages' | 'count_tokens'
  | 'generate' | 'stream' | 'gcount' | 'gmodels' | 'gmodel';

export interface Route {
  kind: Kind;
  provider: Provider;
  /** Model taken from the path (Gemini) or the id of GET …/models/{id}. */
  model: string | null;
}

const R_CHAT: Route = { kind: 'chat', provider: 'openai', model: null };
const R_RESP: Route = { kind: 'responses', provider: 'openai', model: null };
const R_EMB: Route = { kind: 'embeddings', provider: 'openai', model: null };
const R_IMG: Route = { kind: 'images', provider: 'openai', model: null };
const R_EDIT: Route = { kind: 'edits', provider: 'openai', model: null };
const R_MODELS: Route = { kind: 'models', provider: 'openai', model: null };
const R_MSG: Route = { kind: 'messages', provider: 'anthropic', model: null };
const R_ACOUNT: Route = { kind: 'count_tokens', provider: 'anthropic', model: null };
const R_GMODELS: Route = { kind: 'gmodels', provider: 'gemini', model: null };

function decode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function matchRoute(method: string, path: string): Route | null {
  if (method === 'POST') {
    switch (path) {
      case '/v1/chat/completions': return R_CHAT;
      case '/v1/responses': return R_RESP;
      case '/v1/messages': return R_MSG;
      case '/v1/embeddings': return R_EMB;
      case '/v1/images/generations': return R_IMG;
      case '/v1/images/edits': return R_EDIT;
      case '/v1/messages/count_tokens': return R_ACOUNT;
    }
    let rest: string | null = null;
    if (path.startsWith('/v1beta/models/')) rest = path.slice(15);
    else if (path.startsWith('/v1/models/')) rest = path.slice(11);
    if (rest === null) return null;
    const c = rest.lastIndexOf(':');
    if (c <= 0) return null;
    const model = decode(rest.slice(0, c));
    switch (rest.slice(c + 1)) {
      case 'generateContent': return { kind: 'generate', provider: 'gemini', model };
      case 'streamGenerateContent': return { kind: 'stream', provider: 'gemini', model };
      case 'countTokens': return { kind: 'gcount', provider: 'gemini', model };
      default: return null;
    }
  }
  if (method === 'GET') {
    if (path === '/v1/models') return R_MODELS;
    if (path === '/v1beta/models') return R_GMODELS;
    if (path.startsWith('/v1/models/') && path.length > 11) return { kind: 'model', provider: 'openai', model: decode(path.slice(11)) };
    if (path.startsWith('/v1beta/models/') && path.length > 15) {
      return { kind: 'gmodel', provider: 'gemini', model: decode(path.slice(15)) };
    }
  }
  return null;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function apiKey(req: IncomingMessage, query: string): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const k = auth.slice(7).trim();
    if (k !== '') return k;
  }
  const k = header(req, 'x-api-key') ?? header(req, 'x-goog-api-key');
  if (k !== undefined) return k;
  if (query !== '' && query.includes('key=')) {
    const q = new URLSearchParams(query).get('key');
    if (q !== null && q !== '') return q;
  }
  return null;
}

export const EMPTY_BODY: Obj = Object.freeze({}) as Obj;

// Control-plane helpers.

export function sendControl(res: ServerResponse, status: number, obj: unknown): void {
  const buf = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(buf.length)]);
  res.end(buf);
}

export function readAll(req: IncomingMessage, limit: number, cb: (buf: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => cb(over ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
  req.on('error', () => { /* the response's 'close' handles cleanup */ });
}
