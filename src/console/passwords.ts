import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { AppError } from '../kernel/errors.ts';

// Passwords of members and operator accounts: scrypt (N=2^15, r=8, p=1 — OWASP's minimum for
// scrypt), a 16-byte random salt per password, a 32-byte hash. Stored as
// `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>` so parameters can be raised later without
// breaking old hashes. Checked in constant time.

const N = 1 << 15;
const R = 8;
const P = 1;
const LEN = 32;
/** scrypt needs 128·N·r bytes; leave room. */
const MAXMEM = 128 * N * R * 2;

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, LEN, { N: n, r, p, maxmem: Math.max(MAXMEM, 128 * n * r * 2) }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Rejects a password that is too short or too long (400 VALIDATION on `password`). */
export function checkPasswordRules(password: string): void {
  if (password.length < PASSWORD_MIN) throw new AppError('VALIDATION', `password: at least ${PASSWORD_MIN} characters`, { field: 'password' });
  if (password.length > PASSWORD_MAX) throw new AppError('VALIDATION', `password: at most ${PASSWORD_MAX} characters`, { field: 'password' });
}

export async function hashPassword(password: string): Promise<string> {
  checkPasswordRules(password);
  const salt = randomBytes(16);
  const hash = await derive(password, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Whether `password` matches a stored hash; false for a malformed hash (never throws on input). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((x) => Number.isInteger(x) && x > 0) || password.length > PASSWORD_MAX) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  const got = await derive(password, Buffer.from(parts[4]!, 'base64url'), n, r, p);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** A hash to compare against when there is no account, so a miss costs what a hit costs. */
let decoy: Promise<string> | null = null;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword('decoy-password-never-matches');
  return decoy;
}
