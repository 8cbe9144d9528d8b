// Small helpers for reading untyped JSON request bodies.

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A finite number, or an integer-looking string (multipart fields), else undefined. */
export function int(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? Math.trunc(n) : undefined;
  }
  return undefined;
}

/**
 * Characters of input text in a message structure of any of the three protocols: strings count
 * fully; in arrays every element counts; in objects only `text`, `content` and `parts` are
 * followed (OpenAI content parts, Anthropic blocks incl. tool_result content, Gemini parts).
 */
export function textChars(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (depth > 8 || v === null || typeof v !== 'object') return 0;
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) n += textChars(v[i], depth + 1);
    return n;
  }
  const o = v as Obj;
  if (typeof o.text === 'string') n += o.text.length;
  if (o.content !== undefined) n += textChars(o.content, depth + 1);
  if (o.parts !== undefined) n += textChars(o.parts, depth + 1);
  return n;
}
