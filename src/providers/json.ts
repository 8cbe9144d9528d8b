/**
 * Reading provider JSON safely: objects, counts, event data, and the check of a raw usage object
 * against the fields a provider documents (what it does not know is listed, never guessed at).
 */

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A usage count: a non-negative safe integer, else undefined (absent or garbage). */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** A trimmed, lower-cased non-empty string, else undefined. */
export function lower(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim().toLowerCase();
  return t === '' ? undefined : t;
}

/** Parses event data as JSON objects, counting the events that are not one (a corrupt stream). */
export class EventData {
  malformed = 0;

  parse(data: string): Obj | null {
    if (data.length === 0) return null;
    const c = data.charCodeAt(0);
    // Cheap rejection before JSON.parse: an object starts with "{" (after optional whitespace).
    if (c !== 123 /* { */ && c !== 32 && c !== 10 && c !== 13 && c !== 9) {
      this.malformed++;
      return null;
    }
    try {
      const v: unknown = JSON.parse(data);
      if (isObj(v)) return v;
    } catch {
      // fall through
    }
    this.malformed++;
    return null;
  }
}

/**
 * How a provider documents one field of its usage object:
 * - `count`: a token count that is billed;
 * - `info`: informational (a total, a breakdown already inside another count, a label);
 * - `unpriced`: a count the price book cannot price exactly (audio tokens, web searches…): it is
 *   kept raw, billed as the module says, and listed when non-zero;
 * - a nested spec for an object;
 * - a function for anything else (arrays of details, values that change the upstream's price).
 */
export type FieldRule = 'count' | 'info' | 'unpriced' | UsageSpec | ((v: unknown, at: string, out: Set<string>) => void);
export interface UsageSpec {
  readonly [field: string]: FieldRule;
}

/**
 * Fields of a raw usage object that cannot be billed exactly: unknown fields (by dotted path) and
 * non-zero `unpriced` counts. Empty when everything is known.
 */
export function unknownUsage(raw: unknown, spec: UsageSpec, out: Set<string> = new Set(), at = ''): Set<string> {
  if (!isObj(raw)) return out;
  for (const key of Object.keys(raw)) {
    const path = at === '' ? key : `${at}.${key}`;
    const rule = spec[key];
    const v = raw[key];
    if (rule === undefined) out.add(path);
    else if (rule === 'unpriced') {
      if ((count(v) ?? 0) > 0) out.add(path);
    } else if (typeof rule === 'function') rule(v, path, out);
    else if (typeof rule === 'object') unknownUsage(v, rule, out, path);
  }
  return out;
}

/** The listed paths, sorted (a stable record whatever the field order upstream). */
export function listed(paths: Set<string>): string[] {
  return [...paths].sort();
}
