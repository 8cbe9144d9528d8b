import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

const B32 = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case
const pool = Buffer.alloc(4096);
let poolPos = pool.length;

function random(n: number): Buffer {
  if (poolPos + n > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const out = pool.subarray(poolPos, poolPos + n);
  poolPos += n;
  return out;
}

// The random part of the last id and its time (and that time in base32): ids made in the same
// millisecond count up from it.
const last = Buffer.alloc(10);
let lastTime = -1;
let lastTimePart = '';

/** Adds one to `b` read as a big-endian number; false when it overflows. */
function increment(b: Buffer): boolean {
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 255) {
      b[i]!++;
      return true;
    }
    b[i] = 0;
  }
  return false;
}

/** 5 bytes of `b` from `o` (40 bits) as 8 base32 chars, most significant first. */
function base32x5(b: Buffer, o: number): string {
  const hi = (b[o]! << 12) | (b[o + 1]! << 4) | (b[o + 2]! >>> 4);
  const lo = ((b[o + 2]! & 15) << 16) | (b[o + 3]! << 8) | b[o + 4]!;
  return B32[hi >>> 15]! + B32[(hi >>> 10) & 31]! + B32[(hi >>> 5) & 31]! + B32[hi & 31]! + B32[lo >>> 15]! + B32[(lo >>> 10) & 31]! + B32[(lo >>> 5) & 31]! + B32[lo & 31]!;
}

/**
 * Time-sortable ids: `<prefix>_` + 10 chars of epoch ms + 16 random chars (80 bits), base32.
 * Sorting ids sorts by creation time, which keeps indexes append-mostly; within one millisecond
 * the random part counts up from the previous id's, so ids made later in this process sort later.
 */
export function newId(prefix: string, now = Date.now()): string {
  if (now !== lastTime) {
    let t = now;
    let time = '';
    for (let i = 0; i < 10; i++) {
      time = B32[t % 32] + time;
      t = Math.floor(t / 32);
    }
    lastTimePart = time;
    random(10).copy(last);
    lastTime = now;
  } else if (!increment(last)) {
    random(10).copy(last);
  }
  // 10 bytes = 80 bits = 16 base32 chars
  return `${prefix}_${lastTimePart}${base32x5(last, 0)}${base32x5(last, 5)}`;
}

const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A secret token of `len` base62 chars (unbiased rejection sampling). */
export function secretToken(len: number): string {
  let out = '';
  while (out.length < len) {
    for (const b of randomBytes(len * 2)) {
      if (b < 248) out += B62[b % 62];
      if (out.length === len) break;
    }
  }
  return out;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Stable JSON for hashing payloads: object keys sorted, bigint as string. */
export function canonicalJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return JSON.stringify(v.toString());
  if (typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v as object)
    .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}
