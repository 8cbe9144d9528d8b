// Every call of the console goes through here: same-origin, the session cookie sent by the
// browser (never a key), the session's CSRF token on writes, the API's error message on failure.
import { errorMessage, qs } from './lib/format.ts';

let csrf = '';
let onSignedOut: () => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

export class ApiError extends Error {
  code: string;
  status: number;
  body: unknown;
  constructor(status: number, body: unknown) {
    const e = errorMessage(status, body);
    super(e.message);
    this.code = e.code;
    this.status = status;
    this.body = body;
  }
}

export async function api<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  if (method !== 'GET') h['x-csrf-token'] = csrf;
  const r = await fetch(path, { method, headers: h, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (!r.ok) {
    const err = new ApiError(r.status, json);
    if (err.code === 'SESSION_INVALID') onSignedOut();
    throw err;
  }
  return json as T;
}

/** A money-moving call: one Idempotency-Key per user action, so a retried click moves money once. */
export function idempotent<T = any>(path: string, body: unknown, key: string): Promise<T> {
  return api<T>('POST', path, body, { 'idempotency-key': key });
}

export const get = <T = any>(path: string, params: Record<string, string | number | undefined> = {}) => api<T>('GET', path + qs(params));
