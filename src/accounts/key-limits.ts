import { BlockList } from 'node:net';
import { AppError } from '../kernel/errors.ts';
import { formatUsd } from '../kernel/money.ts';
import { parseCidr } from './key-auth.ts';

// The limits a key carries, and how far a customer may change them. The rule (README, "Keys"):
//
//  - A key created with a customer key gets, for each limit it does not give, the limit of the key
//    it is created with; each limit it gives must be within that key's. A customer key never
//    hands out more than it has itself.
//  - A customer changing a key's limit may always tighten it. Loosening it (or removing it) is
//    allowed only within the limits of the key the customer acts with AND within what an operator
//    set on the changed key. So a key's own operator-set limits can only be tightened by
//    customers, never loosened or removed, and an unlimited admin key cannot widen the limits an
//    operator put on another key.
//  - Operators set and remove any limit; what they set is recorded (op_* columns) as the bound.
//
// "Within" means: a number, spend limit or expiry no greater; a model or IP allow-list no wider
// (every model in it, every address block inside one of its blocks); no limit is the widest.

export interface KeyLimits {
  models: string[] | null;
  ips: string[] | null;
  expires_at: number | null;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
  limit_day: bigint | null;
  limit_month: bigint | null;
  limit_total: bigint | null;
}

export const LIMIT_FIELDS = ['models', 'ips', 'expires_at', 'rpm', 'tpm', 'concurrency', 'limit_day', 'limit_month', 'limit_total'] as const satisfies ReadonlyArray<keyof KeyLimits>;
type Field = (typeof LIMIT_FIELDS)[number];

/** The field of the API input a limit is given in (spend limits are `limits.day` and so on). */
export function inputField(f: Field): string {
  return f.startsWith('limit_') ? `limits.${f.slice(6)}` : f;
}

export type GivenLimits = { [F in Field]?: KeyLimits[F] | undefined };

export const NO_LIMITS: KeyLimits = { models: null, ips: null, expires_at: null, rpm: null, tpm: null, concurrency: null, limit_day: null, limit_month: null, limit_total: null };

/** `base` with the limits `given` replacing its own (undefined: not given, kept). */
export function withGiven(base: KeyLimits, given: GivenLimits = {}): KeyLimits {
  const out: Record<Field, unknown> = { ...NO_LIMITS };
  for (const f of LIMIT_FIELDS) out[f] = given[f] === undefined ? base[f] : given[f];
  return out as unknown as KeyLimits;
}

/** Only the limits of a key (or of anything carrying them). */
export function limitsOf(k: KeyLimits): KeyLimits {
  return withGiven(k);
}

function ipsWithin(v: string[] | null, bound: string[] | null): boolean {
  if (!bound || bound.length === 0) return true;
  if (!v || v.length === 0) return false;
  const blocks = bound.map((b) => parseCidr(b)).filter((b) => b !== null);
  return v.every((s) => {
    const c = parseCidr(s);
    // A block lies inside another when its prefix is at least as long and its address is inside.
    return c !== null && blocks.some((b) => {
      if (b.type !== c.type || b.bits > c.bits) return false;
      const list = new BlockList();
      list.addSubnet(b.addr, b.bits, b.type);
      return list.check(c.addr, c.type);
    });
  });
}

/** Whether limit `f` at value `v` is within `bound` (null: no limit, the widest). */
export function within(f: Field, v: KeyLimits[Field], bound: KeyLimits[Field]): boolean {
  if (bound === null) return true;
  if (v === null) return false;
  if (f === 'ips') return ipsWithin(v as string[], bound as string[]);
  if (f === 'models') return (v as string[]).every((m) => (bound as string[]).includes(m));
  return (v as number | bigint) <= (bound as number | bigint);
}

function show(f: Field, v: KeyLimits[Field]): string {
  if (v === null) return 'no limit';
  if (Array.isArray(v)) return v.length ? v.join(', ') : 'none';
  if (f === 'expires_at') return new Date(v as number).toISOString();
  if (typeof v === 'bigint') return `${formatUsd(v)} USD`;
  return String(v);
}

function refuse(f: Field, message: string): never {
  throw new AppError('FORBIDDEN', `${inputField(f)}: ${message}`, { field: inputField(f) });
}

/** The limits of a key a customer creates with the key `acting` (see the rule above). */
export function limitsForCreate(given: GivenLimits, acting: KeyLimits): KeyLimits {
  for (const f of LIMIT_FIELDS) {
    const v = given[f];
    if (v !== undefined && !within(f, v, acting[f])) refuse(f, `the key you act with has ${show(f, acting[f])}; a key it creates cannot have ${show(f, v)}`);
  }
  return withGiven(acting, given);
}

/** Checks a customer's change of a key's limits from `before` to `next` (see the rule above). */
export function checkCustomerChange(next: KeyLimits, before: KeyLimits, acting: KeyLimits, operator: KeyLimits): void {
  for (const f of LIMIT_FIELDS) {
    const v = next[f];
    if (within(f, v, before[f])) continue;
    if (!within(f, v, operator[f])) refuse(f, `an operator set ${show(f, operator[f])} on this key; a customer can tighten it, not loosen or remove it`);
    if (!within(f, v, acting[f])) refuse(f, `the key you act with has ${show(f, acting[f])}; it cannot give a key ${show(f, v)}`);
  }
}
