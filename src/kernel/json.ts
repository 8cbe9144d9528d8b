// JSON that keeps bigints: stored audit and idempotency payloads round-trip exactly.
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? { $big: x.toString() } : x));
}
export function fromJson<T>(s: string): T {
  return JSON.parse(s, (_k, x) => (x && typeof x === 'object' && typeof x.$big === 'string' && Object.keys(x).length === 1 ? BigInt(x.$big) : x)) as T;
}
/** JSON for API output: bigint as decimal string. */
export function plainJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}
