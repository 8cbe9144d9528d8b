// The figures an instance holds allowances on (allowances.ts): a slice of a mirror's money or of a
// concurrency counter, and the lease entries of a rate window, with how each sizes what it asks for
// from the demand it sees (measured per renewal tick).

/** How often allowances are renewed; demand is measured per tick. */
export const TICK_MS = 200;
/** A rate entry's life: requests admitted under it count in the window until its end + 1 minute. */
export const LEASE_LIFE_MS = 1000;

/** A slice of a mirror (money, nano-USD) or of a concurrency counter (slots). */
export class Allowance {
  readonly key: string;
  readonly kind: 'm' | 'c';
  limit: bigint;
  /** What our share in Redis counts for this slice: unused + in use + consumed. */
  total = 0n;
  /** Held by requests in flight admitted under it. */
  used = 0n;
  /** Charges of those requests, settled but not yet committed (money only; they leave at COMMIT). */
  consumed = 0n;
  /** The largest single need since the last tick, and the one before (a hold; 1 for slots). */
  unit = 0n;
  private lastUnit = 0n;
  hits = 0;
  /** Admissions per tick, smoothed. */
  rate = 0;
  lastUse = 0;
  recalledUntil = 0;
  deniedUntil = 0;
  /** The unused part as Redis last heard it (lz). */
  reported = 0n;

  constructor(key: string, kind: 'm' | 'c', limit: bigint) {
    this.key = key;
    this.kind = kind;
    this.limit = limit;
  }

  get unused(): bigint {
    return this.total - this.used - this.consumed;
  }

  /** What it should keep unused: half a second of its demand (at least 16 needs), or for slots half those in use. */
  target(): bigint {
    if (this.kind === 'c') return BigInt(Math.max(8, Math.ceil(Number(this.used) / 2)));
    const units = Math.min(4096, Math.max(16, Math.ceil(this.rate * (500 / TICK_MS))));
    return this.needUnit() * BigInt(units);
  }

  needUnit(): bigint {
    const u = this.unit > this.lastUnit ? this.unit : this.lastUnit;
    return this.kind === 'c' ? 1n : u;
  }

  tick(): void {
    this.rate = this.rate * 0.5 + this.hits * 0.5;
    this.hits = 0;
    if (this.unit > 0n) {
      this.lastUnit = this.unit;
      this.unit = 0n;
    }
  }
}

/** A rate-window lease entry. */
export interface Entry {
  lane: Lane;
  member: string;
  /** Local time before which requests may be admitted under it. */
  end: number;
  slots: number;
  tokens: number;
  usedN: number;
  usedT: number;
  /** Finalised (its count and tokens are what it used); later token corrections go to the lane. */
  done: boolean;
}

/** A rate window (a key's or an account's) as this instance leases from it. */
export class Lane {
  readonly z: string;
  readonly h: string;
  rpm: number;
  tpm: number;
  entries: Entry[] = [];
  corrections = new Map<string, number>();
  hits = 0;
  rate = 0;
  lastUse = 0;
  /** The most tokens one request used, since the last tick and the one before (sizes the entries). */
  tokenUnit = 0;
  private lastTokenUnit = 0;
  asking = false;
  deniedUntil = 0;

  constructor(z: string, h: string, rpm: number, tpm: number) {
    this.z = z;
    this.h = h;
    this.rpm = rpm;
    this.tpm = tpm;
  }

  /** An entry a request of `tokens` may be admitted under now. */
  open(tokens: number, now: number): Entry | null {
    for (const e of this.entries) {
      if (!e.done && now < e.end && e.usedN < e.slots && (this.tpm <= 0 || e.usedT + tokens <= e.tokens)) return e;
    }
    return null;
  }

  /** Whether a new entry should be asked: none open with half its requests left, or it ends soon. */
  short(now: number): boolean {
    let left = 0;
    for (const e of this.entries) if (!e.done && now < e.end - 300) left += this.room(e);
    return left < this.slotsWanted() / 2;
  }

  /** How many typical requests an entry can still take (by its requests and its tokens). */
  room(e: Entry): number {
    const n = e.slots - e.usedN;
    return this.tpm > 0 ? Math.min(n, Math.floor((e.tokens - e.usedT) / this.tokensPerRequest())) : n;
  }

  slotsWanted(): number {
    return Math.min(4096, Math.max(8, Math.ceil(this.rate * (LEASE_LIFE_MS / TICK_MS) * 1.5)));
  }

  tokensPerRequest(): number {
    return Math.max(1, this.tokenUnit, this.lastTokenUnit);
  }

  tick(): void {
    this.rate = this.rate * 0.5 + this.hits * 0.5;
    this.hits = 0;
    if (this.tokenUnit > 0) {
      this.lastTokenUnit = this.tokenUnit;
      this.tokenUnit = 0;
    }
  }
}
