import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { PageSnapshot } from './snapshot.ts';

// The page's cache: one snapshot read at most every `ttlMs` (a burst of visitors, or a spike
// when something is wrong and everyone opens the page, costs one read), and each rendered
// document kept, with its gzip form and ETag, until the next snapshot.

export interface Rendered {
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
  type: string;
}

export class PageCache {
  private readonly load: () => Promise<PageSnapshot>;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private current: { at: number; snap: PageSnapshot; docs: Map<string, Rendered> } | null = null;
  private loading: Promise<PageSnapshot> | null = null;

  onError: ((err: unknown) => void) | null = null;

  constructor(load: () => Promise<PageSnapshot>, ttlMs: number, now: () => number = Date.now) {
    this.load = load;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** Drops the snapshot (after an operator change), so the next visitor sees it. */
  invalidate(): void {
    this.current = null;
  }

  async snapshot(): Promise<PageSnapshot> {
    const c = this.current;
    if (c && this.now() - c.at < this.ttlMs) return c.snap;
    if (!this.loading) {
      const p = this.load()
        .then((snap) => {
          this.current = { at: this.now(), snap, docs: new Map() };
          return snap;
        })
        .finally(() => (this.loading = null));
      // A failed read (storage away) keeps the previous snapshot for everyone; only a visitor with
      // none to fall back on sees the error. Never an unhandled rejection.
      p.catch((err: unknown) => this.onError?.(err));
      this.loading = p;
    }
    // While a new snapshot loads, visitors are served the previous one (never wait on a read).
    if (c) return c.snap;
    return this.loading;
  }

  /** A rendered document of the current snapshot, rendered once per snapshot and key. */
  async get(key: string, type: string, render: (s: PageSnapshot) => string): Promise<Rendered> {
    const snap = await this.snapshot();
    const docs = this.current?.snap === snap ? this.current.docs : new Map<string, Rendered>();
    let r = docs.get(key);
    if (!r) {
      const body = Buffer.from(render(snap));
      r = { body, gzip: body.length > 1024 ? gzipSync(body, { level: 6 }) : null, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, type };
      if (docs.size < 256) docs.set(key, r);
    }
    return r;
  }
}
