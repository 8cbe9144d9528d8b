import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../kernel/errors.ts';
import { newId, safeEqual, secretToken, sha256Hex } from '../kernel/ids.ts';
import type { Actor, Role, Runtime } from '../kernel/context.ts';
import type { KeyAuthenticator } from '../accounts/key-auth.ts';
import type { Auth } from '../http/routes.ts';
import { optNum, str, type Queryable, type Row } from '../storage/port.ts';

// Console sessions. Signing in (signin.ts) creates one: a random token goes to the browser in an
// HttpOnly, SameSite=Strict cookie (Secure when the request came over HTTPS) and only its SHA-256
// is stored. A session authenticates the same /account/v1 and /admin/v1 routes a key does, so the
// console has no second API. State-changing requests must also carry the session's CSRF token in
// `x-csrf-token` (the page reads it from GET /console/api/session; it is never in a cookie), so
// another site cannot make a browser act even where SameSite is not honoured.
//
// A session lasts SESSION_TTL_MS at most and ends after IDLE_MS without use, at sign-out, or as soon
// as what it was made from stops working: the key is revoked or expires, the member is removed,
// their password changes, the operator account is disabled, the operator key is rotated.

export const SESSION_COOKIE = 'surety_session';
export const SESSION_TTL_MS = 12 * 3600_000;
export const IDLE_MS = 2 * 3600_000;
const SEEN_EVERY_MS = 60_000;

export type SessionVia = 'key' | 'operator_key' | 'password' | 'operator_account';

export interface Session {
  id: string;
  csrf: string;
  kind: 'customer' | 'operator';
  via: SessionVia;
  account_id: string | null;
  key_hash: string | null;
  member_id: string | null;
  operator_id: string | null;
  created_at: number;
  seen_at: number;
  expires_at: number;
}

export interface NewSession {
  kind: Session['kind'];
  via: SessionVia;
  accountId?: string | null;
  keyHash?: string | null;
  memberId?: string | null;
  operatorId?: string | null;
}

function toSession(r: Row): Session {
  return {
    id: str(r.id),
    csrf: str(r.csrf),
    kind: str(r.kind) as Session['kind'],
    via: str(r.via) as SessionVia,
    account_id: (r.account_id as string | null) ?? null,
    key_hash: (r.key_hash as string | null) ?? null,
    member_id: (r.member_id as string | null) ?? null,
    operator_id: (r.operator_id as string | null) ?? null,
    created_at: Number(r.created_at),
    seen_at: Number(r.seen_at),
    expires_at: Number(r.expires_at),
  };
}

export function cookieValue(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class ConsoleSessions {
  private readonly rt: Runtime;
  private readonly keys: KeyAuthenticator;
  private readonly adminKeyHash: string;

  constructor(rt: Runtime, keys: KeyAuthenticator, adminKeyHash: string) {
    this.rt = rt;
    this.keys = keys;
    this.adminKeyHash = adminKeyHash;
  }

  /** Creates a session inside the caller's transaction; returns it and the token for the cookie. */
  async create(q: Queryable, s: NewSession, req: FastifyRequest): Promise<{ session: Session; token: string }> {
    const now = this.rt.now();
    const token = secretToken(43);
    const session: Session = {
      id: newId('ses', now), csrf: secretToken(32), kind: s.kind, via: s.via, account_id: s.accountId ?? null, key_hash: s.keyHash ?? null,
      member_id: s.memberId ?? null, operator_id: s.operatorId ?? null, created_at: now, seen_at: now, expires_at: now + SESSION_TTL_MS,
    };
    // Sessions that ended or expired more than a day ago are of no use (the audit log keeps sign-ins).
    await q.run('DELETE FROM console_sessions WHERE expires_at < ? OR ended_at < ?', [now - 86_400_000, now - 86_400_000]);
    const ua = req.headers['user-agent'];
    await q.run(
      `INSERT INTO console_sessions (id, token_hash, csrf, kind, via, account_id, key_hash, member_id, operator_id, ip, user_agent, created_at, seen_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [session.id, sha256Hex(token), session.csrf, session.kind, session.via, session.account_id, session.key_hash, session.member_id, session.operator_id,
        req.ip ?? null, typeof ua === 'string' ? ua.slice(0, 300) : null, now, now, session.expires_at],
    );
    return { session, token };
  }

  setCookie(reply: FastifyReply, req: FastifyRequest, token: string): void {
    reply.header('set-cookie', `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${req.protocol === 'https' ? '; Secure' : ''}`);
  }

  clearCookie(reply: FastifyReply, req: FastifyRequest): void {
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${req.protocol === 'https' ? '; Secure' : ''}`);
  }

  /** The live session behind the request's cookie, or null (no cookie, unknown, ended, expired, idle). */
  async current(req: FastifyRequest): Promise<Session | null> {
    const token = cookieValue(req, SESSION_COOKIE);
    if (!token || token.length > 200) return null;
    const r = await this.rt.db.get('SELECT * FROM console_sessions WHERE token_hash = ? AND ended_at IS NULL', [sha256Hex(token)]);
    if (!r) return null;
    const s = toSession(r);
    const now = this.rt.now();
    if (s.expires_at <= now || s.seen_at + IDLE_MS <= now) return null;
    if (now - s.seen_at >= SEEN_EVERY_MS) await this.rt.db.run('UPDATE console_sessions SET seen_at = ? WHERE id = ?', [now, s.id]);
    return s;
  }

  async end(sessionId: string): Promise<void> {
    await this.rt.db.run('UPDATE console_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL', [this.rt.now(), sessionId]);
  }

  /** Ends every session of a member (password changed, member removed) or of an operator account. */
  async endFor(q: Queryable, who: { memberId?: string; operatorId?: string }, now: number): Promise<void> {
    if (who.memberId) await q.run("UPDATE console_sessions SET ended_at = ? WHERE member_id = ? AND via = 'password' AND ended_at IS NULL", [now, who.memberId]);
    if (who.operatorId) await q.run('UPDATE console_sessions SET ended_at = ? WHERE operator_id = ? AND ended_at IS NULL', [now, who.operatorId]);
  }

  /**
   * The actor of a request that carries no key: from its session cookie, for a route of `mode`.
   * Null when there is no session at all (the caller answers AUTH_REQUIRED).
   */
  async actor(req: FastifyRequest, mode: Auth): Promise<Actor | null> {
    const s = await this.current(req);
    if (!s) {
      if (cookieValue(req, SESSION_COOKIE)) throw new AppError('SESSION_INVALID');
      return null;
    }
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || !safeEqual(sent, s.csrf)) throw new AppError('CSRF_REJECTED');
    }
    const actor = await this.resolve(s);
    if (mode === 'operator' && actor.type !== 'operator') throw new AppError('FORBIDDEN', 'This route is for the operator; this session is a customer\'s.');
    if (mode === 'customer' && actor.type !== 'customer') throw new AppError('FORBIDDEN', 'This route is for customers; this session is an operator\'s.');
    return actor;
  }

  /** Who a session acts as now; a session whose source stopped working is ended (SESSION_INVALID). */
  async resolve(s: Session): Promise<Actor> {
    const gone = async (why: string): Promise<never> => {
      await this.end(s.id);
      throw new AppError('SESSION_INVALID', `The console session has ended: ${why}. Sign in again.`);
    };
    switch (s.via) {
      case 'operator_key':
        if (!s.key_hash || !safeEqual(s.key_hash, this.adminKeyHash)) return gone('the operator key has changed');
        return { type: 'operator', id: 'admin' };
      case 'operator_account': {
        const r = await this.rt.db.get('SELECT disabled_at FROM operator_accounts WHERE id = ?', [s.operator_id]);
        if (!r || optNum(r.disabled_at) !== null) return gone('the operator account is disabled');
        return { type: 'operator', id: s.operator_id! };
      }
      case 'key': {
        const p = await this.keys.authenticateHash(s.key_hash ?? '').catch((e: AppError) => gone(e.message.replace(/\.$/, '').toLowerCase()));
        return { type: 'customer', accountId: p.key.account_id, keyId: p.key.id, memberId: p.key.member_id, role: p.role };
      }
      case 'password': {
        const r = await this.rt.db.get(
          `SELECT m.role, m.removed_at, a.status FROM members m JOIN accounts a ON a.id = m.account_id JOIN member_passwords p ON p.member_id = m.id WHERE m.id = ?`,
          [s.member_id],
        );
        if (!r || optNum(r.removed_at) !== null) return gone('the member no longer exists');
        if (str(r.status) !== 'active') return gone(`the account is ${str(r.status)}`);
        return { type: 'customer', accountId: s.account_id!, keyId: null, memberId: s.member_id, role: str(r.role) as Role };
      }
    }
  }
}
