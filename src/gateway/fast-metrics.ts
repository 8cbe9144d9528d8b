import type { Registry } from 'prom-client';

// Counters and histograms for the data plane's hot path, exposed through a prom-client Registry
// (which formats /metrics). prom-client's own metrics hash and validate a label object on every
// `inc`/`observe` (several per request: measured at ~1.6 KB allocated per request); these reach
// a labelled child through nested Maps of its label values, once, and then only add numbers.
// The Registry calls `get()` at scrape time and formats what it returns like its own metrics.

type Values = Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;

function level(m: Map<string, unknown>, v: string): Map<string, unknown> {
  let next = m.get(v) as Map<string, unknown> | undefined;
  if (next === undefined) m.set(v, (next = new Map()));
  return next;
}

/** A labelled child's slot: nested Maps of label values, in label order. */
class Children<C> {
  private readonly root = new Map<string, unknown>();
  readonly all: Array<{ labels: Record<string, string>; child: C }> = [];
  private readonly names: readonly string[];
  private readonly make: () => C;

  constructor(names: readonly string[], make: () => C) {
    this.names = names;
    this.make = make;
  }

  get(a: string, b?: string, c?: string, d?: string): C {
    const n = this.names.length;
    let m = this.root;
    if (n > 1) m = level(m, a);
    if (n > 2) m = level(m, b!);
    if (n > 3) m = level(m, c!);
    const last = n === 1 ? a : n === 2 ? b! : n === 3 ? c! : d!;
    let child = m.get(last) as C | undefined;
    if (child === undefined) {
      child = this.make();
      m.set(last, child);
      const vals = [a, b, c, d];
      const labels: Record<string, string> = {};
      for (let i = 0; i < n; i++) labels[this.names[i]!] = vals[i]!;
      this.all.push({ labels, child });
    }
    return child;
  }

  clear(): void {
    this.root.clear();
    this.all.length = 0;
  }
}

interface Config {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: Registry[];
}

export class FastCounter {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly children: Children<{ value: number; inc(v?: number): void }>;

  constructor(cfg: Config) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.children = new Children(cfg.labelNames, () => ({
      value: 0,
      inc(v = 1) {
        this.value += v;
      },
    }));
    for (const r of cfg.registers) r.registerMetric(this as never);
  }

  /** The child of these label values (in label order), to `inc` on the hot path. */
  of(a: string, b?: string, c?: string, d?: string): { inc(v?: number): void } {
    return this.children.get(a, b, c, d);
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Values } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.children.all.map(({ labels, child }) => ({ value: child.value, labels })) };
  }

  reset(): void {
    this.children.clear();
  }
}

interface HistogramChild {
  sum: number;
  count: number;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array;
  observe(v: number): void;
}

export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly buckets: readonly number[];
  private readonly children: Children<HistogramChild>;

  constructor(cfg: Config & { buckets: readonly number[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.buckets = [...cfg.buckets].sort((x, y) => x - y);
    const bounds = this.buckets;
    this.children = new Children(cfg.labelNames, () => ({
      sum: 0,
      count: 0,
      counts: new Float64Array(bounds.length + 1),
      observe(v: number) {
        if (!Number.isFinite(v)) return;
        let i = 0;
        while (i < bounds.length && v > bounds[i]!) i++;
        this.counts[i]!++;
        this.sum += v;
        this.count++;
      },
    }));
    for (const r of cfg.registers) r.registerMetric(this as never);
  }

  of(a: string, b?: string, c?: string, d?: string): { observe(v: number): void } {
    return this.children.get(a, b, c, d);
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Values } {
    const values: Values = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, child } of this.children.all) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += child.counts[i]!;
        values.push({ value: acc, labels: { ...labels, le: this.buckets[i]! }, metricName: bucket });
      }
      values.push({ value: child.count, labels: { ...labels, le: '+Inf' }, metricName: bucket });
      values.push({ value: child.sum, labels, metricName: `${this.name}_sum` });
      values.push({ value: child.count, labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.children.clear();
  }
}
