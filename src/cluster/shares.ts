// What this instance has put into Redis: its share of holds and unflushed charges in each mirror,
// and of concurrency slots. Redis holds the same figures; when they may differ (a command failed or
// timed out, Redis restarted) this instance writes its own back (the SYNC script), absolute and
// idempotent, so no failure can leave a share counted twice or lost.

export interface Share {
  held: bigint;
  unfl: bigint;
}

export class Shares {
  readonly mirrors = new Map<string, Share>();
  readonly slots = new Map<string, number>();
  /** Hashes whose share in Redis may differ from ours. */
  readonly dirty = new Set<string>();
  /** Mirrors whose base may miss a commit of ours: their base is dropped (reloaded) at the next sync. */
  readonly stale = new Set<string>();
  /** Hashes we were registered under (inst-keys), to unregister those we no longer have a share in. */
  readonly registered = new Set<string>();
  /** Which registered hashes count concurrency slots (the rest are mirrors). */
  private readonly slotKeys = new Set<string>();
  /** Bumped by each sync: an admission refused while a sync ran may have left a share behind. */
  syncs = 0;
  /** The unused part of our allowance on a hash (allowances.ts), written back as our lz share. */
  unusedOf: (key: string) => bigint = () => 0n;

  private mirror(key: string): Share {
    let s = this.mirrors.get(key);
    if (!s) this.mirrors.set(key, (s = { held: 0n, unfl: 0n }));
    this.registered.add(key);
    return s;
  }

  private tidy(key: string, s: Share): void {
    if (s.held === 0n && s.unfl === 0n) this.mirrors.delete(key);
  }

  held(key: string, d: bigint): void {
    const s = this.mirror(key);
    s.held += d;
    this.tidy(key, s);
  }

  unfl(key: string, d: bigint): void {
    const s = this.mirror(key);
    s.unfl += d;
    this.tidy(key, s);
  }

  unflOf(key: string): bigint {
    return this.mirrors.get(key)?.unfl ?? 0n;
  }

  slot(key: string, d: number): void {
    const n = (this.slots.get(key) ?? 0) + d;
    this.registered.add(key);
    this.slotKeys.add(key);
    if (n === 0) this.slots.delete(key);
    else this.slots.set(key, n);
  }

  suspect(keys: Iterable<string>, stale = false): void {
    for (const k of keys) {
      this.dirty.add(k);
      if (stale) this.stale.add(k);
    }
  }

  /** The SYNC script's arguments for `keys` (every hash we have a share in when `all`), and clears the marks. */
  syncArgs(all: boolean): { keys: string[]; args: string[]; stale: string[] } {
    const keys = new Set(this.dirty);
    for (const k of this.stale) keys.add(k);
    if (all) for (const k of [...this.mirrors.keys(), ...this.slots.keys()]) keys.add(k);
    const args: string[] = [];
    const list = [...keys];
    const stale = [...this.stale];
    for (const k of list) {
      const slot = this.slots.get(k);
      if (this.slotKeys.has(k)) args.push('c', '0', String(slot ?? 0), '0', String(this.unusedOf(k)));
      else {
        const s = this.mirrors.get(k);
        args.push('m', this.stale.has(k) ? '1' : '0', String(s?.held ?? 0n), String(s?.unfl ?? 0n), String(this.unusedOf(k)));
      }
    }
    this.dirty.clear();
    this.stale.clear();
    // Only a sync that writes something can have crossed an admission (an empty one is not sent).
    if (list.length > 0) this.syncs++;
    return { keys: list, args, stale };
  }

  /** Hashes we are registered under but no longer have a share in. */
  unused(): string[] {
    const out: string[] = [];
    for (const k of this.registered) {
      if (this.mirrors.has(k) || this.slots.has(k) || this.dirty.has(k)) continue;
      out.push(k);
      this.registered.delete(k);
      this.slotKeys.delete(k);
    }
    return out;
  }
}
