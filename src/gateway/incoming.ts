// What a data-plane request brings: its key (from any of the ways the three SDKs send it) and its
// body, kept as bytes (forwarded verbatim when nothing changes) and parsed once —
// JSON objects, or the text fields of a multipart form (image edits). Anything else is 415.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseJsonBody } from '../http/body.ts';
import { AppError } from '../kernel/errors.ts';
import { rejectNul } from '../kernel/validation.ts';
import { parseMultipartFields } from './multipart.ts';

export interface ParsedBody {
  raw: Buffer;
  json: Record<string, unknown> | null;
  form?: Record<string, string>;
}

export function registerBodyParsers(dp: FastifyInstance): void {
  dp.removeAllContentTypeParsers();
  dp.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    try {
      done(null, { raw, json: parseJsonBody(raw.toString('utf8'), true) as Record<string, unknown> } satisfies ParsedBody);
    } catch (e) {
      done(e as AppError, undefined);
    }
  });
  dp.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer;
    parseMultipartFields(raw, String(req.headers['content-type'])).then(
      (form) => {
        try {
          rejectNul(form, 'body');
        } catch (e) {
          return done(e as AppError, undefined);
        }
        done(null, { raw, json: null, form } satisfies ParsedBody);
      },
      (e) => done(new AppError('VALIDATION', `multipart body: ${(e as Error).message}`, { field: 'body' }), undefined),
    );
  });
  dp.addContentTypeParser('*', (_req, _payload, done) => done(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json (or multipart/form-data for image edits).'), undefined));
}

/** The caller's key from any of the ways the three SDKs send it. */
export function extractKey(req: FastifyRequest): string {
  const h = req.headers;
  const auth = h.authorization;
  if (typeof auth === 'string' && auth.length > 7 && (auth.charCodeAt(0) | 32) === 98 /* b */ && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const x = h['x-api-key'];
  if (typeof x === 'string' && x) return x.trim();
  const g = h['x-goog-api-key'];
  if (typeof g === 'string' && g) return g.trim();
  const q = (req.query as Record<string, unknown> | undefined)?.key;
  if (typeof q === 'string' && q) return q;
  return '';
}
