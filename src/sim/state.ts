// Mutable simulator state: counters and the ring buffer of received requests.

import type { SimRequestRecord } from './types.ts';

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export class Stats {
  total = 0;
  inFlight = 0;
  byPath = new Map<string, number>();
  byModel = new Map<string, number>();
  byStatus = new Map<string, number>();
  byOutcome = new Map<string, number>();

  countPath(p: string): void { bump(this.byPath, p); }
  countModel(m: string): void { bump(this.byModel, m); }
  countStatus(s: number): void { bump(this.byStatus, String(s)); }
  countOutcome(o: string): void { bump(this.byOutcome, o); }

  clear(): void {
    // inFlight is live state, not history: keep it.
    this.total = 0;
    this.byPath.clear();
    this.byModel.clear();
    this.byStatus.clear();
    this.byOutcome.clear();
  }

  toJSON(): Record<string, unknown> {
    return {
      total: this.total,
      inFlight: this.inFlight,
      byPath: Object.fromEntries(this.byPath),
      byModel: Object.fromEntries(this.byModel),
      byStatus: Object.fromEntries(this.byStatus),
      byOutcome: Object.fromEntries(this.byOutcome),
    };
  }
}

export class RequestLog {
  private buf: (SimRequestRecord | undefined)[];
  private next = 0;
  private count = 0;
  private seq = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.buf = new Array(this.capacity);
  }

  add(time: number, method: string, path: string, key: string | null, body: string): SimRequestRecord {
    const r: SimRequestRecord = {
      seq: ++this.seq,
      time,
      method,
      path,
      model: '',
      key,
      body: body.length > 200 ? body.slice(0, 200) : body,
      status: null,
      outcome: 'pending',
    };
    this.buf[this.next] = r;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    return r;
  }

  /** The last `limit` records (default: all kept), oldest first. */
  last(limit?: number): SimRequestRecord[] {
    const n = limit === undefined ? this.count : Math.max(0, Math.min(this.count, Math.trunc(limit)));
    const out: SimRequestRecord[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const idx = (this.next - n + i + this.capacity * 2) % this.capacity;
      out[i] = this.buf[idx] as SimRequestRecord;
    }
    return out;
  }

  clear(): void {
    this.buf = new Array(this.capacity);
    this.next = 0;
    this.count = 0;
    this.seq = 0;
  }
}
