// Directive scanner: `[[sim:name]]` / `[[sim:name=value]]` anywhere in the raw request body.
// One precompiled regex, one pass, and a cheap `includes` pre-check so ordinary requests
// allocate nothing.

import type { Directives } from './types.ts';

export const NO_DIRECTIVES: Readonly<Directives> = Object.freeze({
  error: 0,
  quota: false,
  retryAfter: 1,
  timeout: false,
  latencyMs: 0,
  chunkMs: 0,
  tokens: -1,
  cut: -1,
  reset: false,
  malformed: false,
  moderation: '',
  images: -1,
  slowImageS: 0,
  usageNone: false,
  cached: 0,
  cacheWrite: 0,
  reasoning: 0,
  tool: '',
});

const DIRECTIVE_RE = /\[\[sim:([a-z_]+)(?:=([^\]\s"\\]*))?\]\]/g;

function num(v: string | undefined, min: number, max: number): number {
  if (v === undefined) return NaN;
  const n = Number(v);
  if (!Number.isFinite(n)) return NaN;
  return Math.min(max, Math.max(min, n));
}

/** Scan `raw` once for directives. Unknown names and unparsable values are ignored. */
export function parseDirectives(raw: string): Readonly<Directives> {
  if (!raw.includes('[[sim:')) return NO_DIRECTIVES;
  const d: Directives = { ...NO_DIRECTIVES };
  DIRECTIVE_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = DIRECTIVE_RE.exec(raw)) !== null) {
    const name = m[1];
    const v = m[2];
    let n: number;
    switch (name) {
      case 'error':
        n = Math.trunc(num(v, 100, 599));
        if (n >= 400) d.error = n;
        break;
      case 'quota':
        d.quota = true;
        break;
      case 'retry_after':
        n = num(v, 0, 86_400);
        if (!Number.isNaN(n)) d.retryAfter = Math.trunc(n);
        break;
      case 'timeout':
        d.timeout = true;
        break;
      case 'latency':
        n = num(v, 0, 3_600_000);
        if (!Number.isNaN(n)) d.latencyMs = n;
        break;
      case 'chunk_ms':
        n = num(v, 0, 3_600_000);
        if (!Number.isNaN(n)) d.chunkMs = n;
        break;
      case 'tokens':
        n = num(v, 0, 1_000_000);
        if (!Number.isNaN(n)) d.tokens = Math.trunc(n);
        break;
      case 'cut':
        n = num(v, 0, 1_000_000);
        if (!Number.isNaN(n)) d.cut = Math.trunc(n);
        break;
      case 'reset':
        d.reset = true;
        break;
      case 'malformed':
        d.malformed = true;
        break;
      case 'moderation':
        d.moderation = v !== undefined && v !== '' ? v : 'true';
        break;
      case 'images':
        n = num(v, 0, 100);
        if (!Number.isNaN(n)) d.images = Math.trunc(n);
        break;
      case 'slow_image':
        n = num(v, 0, 86_400);
        if (!Number.isNaN(n)) d.slowImageS = n;
        break;
      case 'usage':
        if (v === 'none') d.usageNone = true;
        break;
      case 'cached':
        n = num(v, 0, 100_000_000);
        if (!Number.isNaN(n)) d.cached = Math.trunc(n);
        break;
      case 'cache_write':
        n = num(v, 0, 100_000_000);
        if (!Number.isNaN(n)) d.cacheWrite = Math.trunc(n);
        break;
      case 'reasoning':
        n = num(v, 0, 1_000_000);
        if (!Number.isNaN(n)) d.reasoning = Math.trunc(n);
        break;
      case 'tool':
        d.tool = v !== undefined && v !== '' ? v : 'true';
        break;
      default:
        break;
    }
  }
  return d;
}
