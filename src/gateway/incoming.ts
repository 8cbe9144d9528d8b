// What a data-plane request brings: its key (from any of the ways the three SDKs send it) and its
// body, kept as bytes (forwarded verbatim when nothing changes) and parsed once —
// JSON objects, or the text fields of a multipart form (image edits). Anything else is 415.
// No framework types: the front door (front.ts) reads requests off node:http itself.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parseJsonBody } from '../http/body.ts';
import { AppError } from '../kernel/errors.ts';
import { rejectNul } from '../kernel/validation.ts';
import { parseMultipartFields } from './multipart.ts';

export interface ParsedBody {
  raw: Buffer;
  json: Record<string, unknown> | null;
  form?: Record<string, string>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads a request's body, whole, up to `limit` bytes. A body declared or found larger is 413; one
 * that ends before its declared length (a client that half-closed, a reset) is 400. Calls `done`
 * exactly once.
 */
export function readBody(req: IncomingMessage, limit: number, done: (err: AppError | null, raw: Buffer) => void): void {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? -1 : Number(declared);
  if (length > limit) return done(tooLarge(limit), EMPTY);
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  const finish = (err: AppError | null, raw: Buffer) => {
    if (finished) return;
    finished = true;
    req.removeListener('data', onData);
    done(err, raw);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) return finish(tooLarge(limit), EMPTY);
    chunks.push(chunk);
  };
  req.on('data', onData);
  req.once('end', () => {
    if (length >= 0 && received !== length) return finish(truncated(), EMPTY);
    finish(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
  });
  req.once('error', () => finish(truncated(), EMPTY));
}

/**
 * Parses a data-plane body by its media type: a JSON object, or a multipart form's text fields. A
 * request without a body has none (the gateway says what is missing); a body of another type is 415.
 */
export async function parseBody(raw: Buffer, contentType: string | undefined): Promise<ParsedBody> {
  const type = mediaType(contentType);
  if (type === 'application/json') return { raw, json: parseJsonBody(raw.toString('utf8'), true) as Record<string, unknown> };
  if (type === 'multipart/form-data') {
    let form: Record<string, string>;
    try {
      form = await parseMultipartFields(raw, contentType!);
    } catch (e) {
      throw new AppError('VALIDATION', `multipart body: ${(e as Error).message}`, { field: 'body' });
    }
    rejectNul(form, 'body');
    return { raw, json: null, form };
  }
  if (type === '' && raw.length === 0) return { raw, json: null };
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (or multipart/form-data for image edits).');
}

/** `type/subtype` of a Content-Type header, lower case, without parameters ('' when absent). */
function mediaType(contentType: string | undefined): string {
  if (!contentType) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function tooLarge(limit: number): AppError {
  return new AppError('BODY_TOO_LARGE', `The request body is larger than ${limit} bytes.`);
}

function truncated(): AppError {
  return new AppError('VALIDATION', 'body: the request body ended before its declared length', { field: 'body' });
}

/** The caller's key from any of the ways the three SDKs send it (`queryKey`: Gemini's `?key=`). */
export function extractKey(h: IncomingHttpHeaders, queryKey?: unknown): string {
  const auth = h.authorization;
  if (typeof auth === 'string' && auth.length > 7 && (auth.charCodeAt(0) | 32) === 98 /* b */ && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const x = h['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  const g = h['x-goog-api-key'];
  if (typeof g === 'string' && g) return g.trim();
  if (typeof queryKey === 'string' && queryKey) return queryKey;
  return '';
}
