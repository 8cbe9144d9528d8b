import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError, isAppError } from '../kernel/errors.ts';
import { safeEqual, sha256Hex } from '../kernel/ids.ts';
import { audit } from '../kernel/audit.ts';
import type { Actor, Runtime } from '../kernel/context.ts';
import { parseInput } from '../kernel/validation.ts';
import { MemoryFailureLog, type FailureLog } from '../kernel/failure-log.ts';
import { checkLimits, recordLimits, type Limit } from '../kernel/throttle.ts';
import { KEY_PREFIX, type KeyAuthenticator } from '../accounts/keys.ts';
import { str } from '../storage/port.ts';
import { decoyHash, verifyPassword, PASSWORD_MAX } from './passwords.ts';
import type { ConsoleSessions, NewSession, Session } from './sessions.ts';

// Signing in to the console, three ways: with a key (a customer key, or the operator key), with a
// member's e-mail and password, or with an operator account's e-mail and password. Failed attempts
// are counted per client address and per account (the e-mail, or the key's prefix) over a sliding
// window, in Redis when REDIS_URL is set; past the limit every attempt from that address or for
// that account is 429 RATE_LIMITED until the oldest failure leaves the window — a correct password
// included, so that guessing cannot continue by waiting for a hit.

export const SIGN_IN_LIMITS = { perAccount: 10, perIp: 30, windowMs: 15 * 60_000 };

const secret = z.string().min(1).max(PASSWORD_MAX);
export const SignInInput = z.discriminatedUnion('method', [
  z.object({ method: z.literal('key'), key: z.string().min(1).max(300) }).strict(),
  z.object({ method: z.literal('password'), email: z.email(), password: secret, account_id: z.string().max(100).optional() }).strict(),
  z.object({ method: z.literal('operator'), email: z.email(), password: secret }).strict(),
]);

export class SignInThrottle {
  private readonly log: FailureLog;
  constructor(log: FailureLog = new MemoryFailureLog()) {
    this.log = log;
  }

  async check(account: string, ip: string | null, now: number): Promise<void> {
    await checkLimits(this.log, this.limits(account, ip), now, 'failed sign-ins for this account or from this address');
  }

  async failed(account: string, ip: string | null, now: number): Promise<void> {
    await recordLimits(this.log, this.limits(account, ip), now);
  }

  private limits(account: string, ip: string | null): Limit[] {
    const windowMs = SIGN_IN_LIMITS.windowMs;
    const out: Limit[] = [{ subject: `signin:account:${account}`, max: SIGN_IN_LIMITS.perAccount, windowMs }];
    if (ip) out.push({ subject: `signin:ip:${ip}`, max: SIGN_IN_LIMITS.perIp, windowMs });
    return out;
  }
}

export interface SignInDeps {
  rt: Runtime;
  keys: KeyAuthenticator;
  sessions: ConsoleSessions;
  throttle: SignInThrottle;
  adminKeyHash: string;
}

type Input = z.infer<typeof SignInInput>;

/** What the sign-in resolved to: the session to create and who to audit it as. */
interface Resolved {
  session: NewSession;
  actor: Actor;
  accountId: string | null;
}

/** Signs in: checks the throttle, the credentials, then creates the session (audited). */
export async function signIn(d: SignInDeps, raw: unknown, req: FastifyRequest): Promise<{ session: Session; token: string }> {
  const input = parseInput(SignInInput, raw);
  const now = d.rt.now();
  const ip = req.ip ?? null;
  const subject = input.method === 'key' ? `key:${input.key.slice(0, 12)}` : `${input.method}:${input.email.toLowerCase()}`;
  await d.throttle.check(subject, ip, now);
  let r: Resolved;
  try {
    r = input.method === 'key' ? await byKey(d, input.key) : input.method === 'password' ? await byMemberPassword(d, input) : await byOperatorPassword(d, input);
  } catch (e) {
    if (isAppError(e) && (e.code === 'SIGN_IN_FAILED' || e.code === 'KEY_REVOKED' || e.code === 'KEY_EXPIRED')) await d.throttle.failed(subject, ip, now);
    throw e;
  }
  return d.rt.db.tx(async (q) => {
    const out = await d.sessions.create(q, r.session, req);
    await audit(q, r.actor, 'console.sign_in', { type: 'session', id: out.session.id, accountId: r.accountId }, undefined, { via: r.session.via, ip }, now);
    return out;
  });
}

async function byKey(d: SignInDeps, key: string): Promise<Resolved> {
  const hash = sha256Hex(key);
  if (safeEqual(hash, d.adminKeyHash)) {
    return { session: { kind: 'operator', via: 'operator_key', keyHash: hash }, actor: { type: 'operator', id: 'admin' }, accountId: null };
  }
  if (!key.startsWith(KEY_PREFIX)) throw new AppError('SIGN_IN_FAILED', 'This key is not valid.');
  const p = await d.keys.authenticate(key).catch((e: unknown) => {
    if (isAppError(e) && e.code === 'KEY_INVALID') throw new AppError('SIGN_IN_FAILED', 'This key is not valid.');
    throw e;
  });
  return {
    session: { kind: 'customer', via: 'key', accountId: p.key.account_id, keyHash: hash, memberId: p.key.member_id },
    actor: { type: 'customer', accountId: p.key.account_id, keyId: p.key.id, memberId: p.key.member_id, role: p.role },
    accountId: p.key.account_id,
  };
}

const WRONG_PASSWORD = 'The e-mail and password do not match.';

async function byMemberPassword(d: SignInDeps, input: Extract<Input, { method: 'password' }>): Promise<Resolved> {
  const rows = await d.rt.db.all(
    `SELECT m.id, m.account_id, m.role, a.name AS account_name, a.status, p.hash FROM members m
       JOIN member_passwords p ON p.member_id = m.id JOIN accounts a ON a.id = m.account_id
      WHERE m.email = ? AND m.removed_at IS NULL ORDER BY m.created_at, m.id LIMIT 20`,
    [input.email.toLowerCase()],
  );
  const candidates = input.account_id ? rows.filter((r) => r.account_id === input.account_id) : rows;
  if (candidates.length === 0) {
    await verifyPassword(input.password, await decoyHash());
    throw new AppError('SIGN_IN_FAILED', WRONG_PASSWORD);
  }
  const matches = [];
  for (const r of candidates) if (await verifyPassword(input.password, str(r.hash))) matches.push(r);
  if (matches.length === 0) throw new AppError('SIGN_IN_FAILED', WRONG_PASSWORD);
  if (matches.length > 1) {
    throw new AppError('CONFLICT', 'This e-mail is a member of several accounts: choose one (account_id).', {
      field: 'account_id', accounts: matches.map((m) => ({ id: str(m.account_id), name: str(m.account_name) })),
    });
  }
  const m = matches[0]!;
  if (str(m.status) !== 'active') throw new AppError('ACCOUNT_SUSPENDED', `The account is ${str(m.status)}.`);
  const accountId = str(m.account_id);
  return {
    session: { kind: 'customer', via: 'password', accountId, memberId: str(m.id) },
    actor: { type: 'customer', accountId, keyId: null, memberId: str(m.id), role: str(m.role) as 'owner' },
    accountId,
  };
}

async function byOperatorPassword(d: SignInDeps, input: Extract<Input, { method: 'operator' }>): Promise<Resolved> {
  const r = await d.rt.db.get('SELECT id, password_hash FROM operator_accounts WHERE email = ? AND disabled_at IS NULL', [input.email.toLowerCase()]);
  const ok = await verifyPassword(input.password, r ? str(r.password_hash) : await decoyHash());
  if (!r || !ok) throw new AppError('SIGN_IN_FAILED', WRONG_PASSWORD);
  const id = str(r.id);
  return { session: { kind: 'operator', via: 'operator_account', operatorId: id }, actor: { type: 'operator', id }, accountId: null };
}
