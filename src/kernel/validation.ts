import { z } from 'zod';
import { AppError } from './errors.ts';
import { MoneyFormatError, parseUsd } from './money.ts';

/** Parses input with a zod schema; the first problem becomes a VALIDATION error naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, root = 'body'): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length ? issue.path.map(String).join('.') : root;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const path = issue.path.length ? `${issue.path.join('.')}.` : '';
    throw new AppError('VALIDATION', `${path}${keys[0]}: unknown field`, { field: `${path}${keys[0]}` });
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
  throw new AppError('VALIDATION', `${field}: ${message}`, { field });
}

/** A USD amount as a decimal string ("12.50"), turned into nano-USD. */
export const usdAmount = (opts: { allowZero?: boolean; allowNegative?: boolean } = {}) =>
  z.string().transform((s, ctx) => {
    try {
      return parseUsd(s, opts);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof MoneyFormatError ? e.message : 'must be a USD decimal string like "12.50"' });
      return z.NEVER;
    }
  });

export const isoTime = z.string().transform((s, ctx) => {
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(t)) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time like "2026-12-31T00:00:00Z"' });
    return z.NEVER;
  }
  return t;
});

export const iso = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : new Date(t).toISOString());

/** Refuses a time given for the future (an expiry) that is not after `now`, naming the field. */
export function requireFuture(field: string, t: number | null | undefined, now: number): void {
  if (t !== null && t !== undefined && t <= now) throw new AppError('VALIDATION', `${field}: must be in the future (${iso(t)} is not after ${iso(now)})`, { field });
}

/**
 * The path of the first string holding a NUL character in a parsed value (object keys included),
 * or null. PostgreSQL cannot store NUL in text and SQLite truncates at it in places, so every text
 * input is refused at the edge, the same on both engines.
 */
export function findNul(v: unknown, path = ''): string | null {
  if (typeof v === 'string') return v.includes('\u0000') ? path || 'body' : null;
  if (v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = findNul(v[i], `${path}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  }
  for (const [k, x] of Object.entries(v)) {
    const at = path ? `${path}.${k}` : k;
    if (k.includes('\u0000')) return at;
    const p = findNul(x, at);
    if (p !== null) return p;
  }
  return null;
}

/** Refuses a value with a NUL character anywhere (see findNul) with a 400 naming the field. */
export function rejectNul(v: unknown, root: string): void {
  const at = findNul(v, root === 'body' ? '' : root);
  if (at !== null) throw new AppError('VALIDATION', `${at}: must not contain a NUL character`, { field: at });
}
