import { z } from 'zod';
import { AppError } from '../kernel/errors.ts';
import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import { requireOperator } from '../kernel/authorisation.ts';
import { iso, parseInput } from '../kernel/validation.ts';
import { exportFileName, sendExport } from '../kernel/export.ts';
import { accountView, getAccount, toAccount } from '../accounts/accounts.ts';
import { getMemberRow, memberView } from '../accounts/members.ts';
import type { KeyAuthenticator } from '../accounts/key-auth.ts';
import { SortedPaging, type Call, type RouteTable } from '../http/routes.ts';
import { str } from '../storage/port.ts';
import { ConsoleSessions, type Session } from './sessions.ts';
import { SignInThrottle, SignInInput, signIn } from './signin.ts';
import { AcceptInvitationInput, OperatorInput, PasswordInput, acceptInvitation, createInvitation, createOperatorAccount, disableOperatorAccount, listOperatorAccounts, setMemberPassword } from './people.ts';
import { USAGE_DATASET, UsageQuery, usageTable } from './usage.ts';
import { DecisionInput, NoticeInput, NoticeQuery, confirmNotice, createNotice, listNotices, noticeReceipt, rejectNotice } from './transfers.ts';
import { registerInsightRoutes } from './insights.ts';
import { registerChannelTestRoute } from './channel-test.ts';
import { registerCostRoutes } from './cost.ts';

// The console's server side: sign-in and sessions under /console/api, and the few control-plane
// routes the console needs that did not exist (usage analytics, operator accounts, passwords and
// invitations, transfer notices, account search). Everything else the console shows comes from the
// existing /account/v1 and /admin/v1 routes, which a session authenticates like a key does.

export interface ConsoleDeps {
  rt: Runtime;
  keys: KeyAuthenticator;
  sessions: ConsoleSessions;
  adminKeyHash: string;
}

export function registerConsoleRoutes(t: RouteTable, d: ConsoleDeps): void {
  registerSessionRoutes(t, d);
  registerPeopleRoutes(t, d);
  registerUsageRoutes(t, d.rt);
  registerNoticeRoutes(t, d.rt);
  registerInsightRoutes(t, d.rt);
  registerChannelTestRoute(t, d.rt);
  registerCostRoutes(t, d.rt.db);
}

const customerOf = (a: Actor): Extract<Actor, { type: 'customer' }> => {
  if (a.type !== 'customer') throw new AppError('FORBIDDEN');
  return a;
};

/** What the page needs to know about who is signed in (and the CSRF token for its writes). */
async function sessionInfo(d: ConsoleDeps, s: Session): Promise<Record<string, unknown>> {
  const actor = await d.sessions.resolve(s);
  const base = { signed_in: true, kind: s.kind, via: s.via, csrf: s.csrf, expires_at: iso(s.expires_at) };
  if (actor.type === 'operator') {
    const op = s.operator_id ? await d.rt.db.get('SELECT id, email, name FROM operator_accounts WHERE id = ?', [s.operator_id]) : null;
    return { ...base, operator: op ? { id: str(op.id), email: str(op.email), name: op.name ?? null } : { id: 'admin', email: null, name: 'Operator key' } };
  }
  if (actor.type !== 'customer') throw new AppError('SESSION_INVALID');
  const ctx = withActor(d.rt, actor);
  const account = accountView(await getAccount(ctx, actor.accountId));
  const member = actor.memberId ? memberView(await getMemberRow(d.rt.db, actor.accountId, actor.memberId)) : null;
  return { ...base, account, role: actor.role, member, key_id: actor.keyId };
}

function registerSessionRoutes(t: RouteTable, d: ConsoleDeps): void {
  const tag = 'console';
  const throttle = new SignInThrottle(d.rt.failures);
  const rateHeader = (c: Call, e: unknown) => {
    if (e instanceof AppError && e.code === 'RATE_LIMITED') c.reply.header('retry-after', String(e.details?.retry_after));
    throw e;
  };
  t.add({ method: 'GET', url: '/console/api/session', auth: 'none', tag, summary: 'Who is signed in to the console (and the CSRF token for writes); signed_in false without a session' }, async (c) => {
    c.reply.header('cache-control', 'no-store');
    const s = await d.sessions.current(c.request);
    if (!s) return { signed_in: false };
    return sessionInfo(d, s).catch((e: unknown) => {
      if (e instanceof AppError && e.code === 'SESSION_INVALID') return { signed_in: false, reason: e.message };
      throw e;
    });
  });
  t.add({ method: 'POST', url: '/console/api/sign-in', auth: 'none', tag, summary: 'Sign in to the console: {method: key|password|operator, …}; sets the session cookie (failures are rate-limited)', body: SignInInput }, async (c) => {
    const previous = await d.sessions.current(c.request);
    const { session, token } = await signIn({ ...d, throttle }, c.body, c.request).catch((e: unknown) => rateHeader(c, e));
    // Signing in again (as someone else, say) ends this browser's previous session.
    if (previous) await d.sessions.end(previous.id);
    d.sessions.setCookie(c.reply, c.request, token);
    c.reply.header('cache-control', 'no-store');
    return sessionInfo(d, session);
  });
  t.add({ method: 'POST', url: '/console/api/sign-out', auth: 'none', tag, summary: 'End the console session (needs x-csrf-token); clears the cookie' }, async (c) => {
    const s = await d.sessions.current(c.request);
    if (s) {
      await d.sessions.actor(c.request, 'none');
      await d.sessions.end(s.id);
    }
    d.sessions.clearCookie(c.reply, c.request);
    return { signed_in: false };
  });
  t.add({ method: 'POST', url: '/console/api/invitations/accept', auth: 'none', tag, summary: 'Use an invitation link: set the member\'s password and sign in', body: AcceptInvitationInput }, async (c) => {
    const m = await acceptInvitation(withActor(d.rt, { type: 'system', id: 'invitation' }), d.sessions, c.body);
    const { session, token } = await d.rt.db.tx((q) => d.sessions.create(q, { kind: 'customer', via: 'password', accountId: m.accountId, memberId: m.memberId }, c.request));
    d.sessions.setCookie(c.reply, c.request, token);
    return sessionInfo(d, session);
  });
}

function registerPeopleRoutes(t: RouteTable, d: ConsoleDeps): void {
  const { rt, sessions } = d;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  t.add({ method: 'GET', url: '/admin/v1/operators', auth: 'operator', tag: 'admin', summary: 'Operator accounts (console sign-in by e-mail and password; ?sort=&cursor=&limit=)', query: SortedPaging }, async (c) =>
    asData(await listOperatorAccounts(ctx(c), parseInput(SortedPaging, c.query, 'query'))));
  t.add({ method: 'POST', url: '/admin/v1/operators', auth: 'operator', tag: 'admin', summary: 'Create an operator account (the first one with the operator key)', body: OperatorInput, status: 201 }, async (c) =>
    createOperatorAccount(ctx(c), c.body));
  t.add({ method: 'POST', url: '/admin/v1/operators/:id/disable', auth: 'operator', tag: 'admin', summary: 'Disable an operator account; its sessions end' }, async (c) =>
    disableOperatorAccount(ctx(c), sessions, c.params.id!));

  const setPassword = (accountOf: (c: Call) => string) => async (c: Call) => {
    await setMemberPassword(ctx(c), sessions, accountOf(c), c.params.memberId!, c.body);
    return { ok: true };
  };
  const invite = (accountOf: (c: Call) => string) => async (c: Call) => {
    const inv = await createInvitation(ctx(c), accountOf(c), c.params.memberId!);
    return { ...inv, path: `/console/invite#${inv.token}` };
  };
  const own = (c: Call) => customerOf(c.actor).accountId;
  const byId = (c: Call) => c.params.id!;
  t.add({ method: 'PUT', url: '/account/v1/members/:memberId/password', auth: 'customer', tag: 'account', summary: 'Set a member\'s console password (admins; or the member themself)', body: PasswordInput }, setPassword(own));
  t.add({ method: 'POST', url: '/account/v1/members/:memberId/invitations', auth: 'customer', tag: 'account', summary: 'An invitation link for a member to set their password (admins; shown once)', status: 201 }, invite(own));
  t.add({ method: 'PUT', url: '/admin/v1/accounts/:id/members/:memberId/password', auth: 'operator', tag: 'admin', summary: 'Set a member\'s console password', body: PasswordInput }, setPassword(byId));
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/members/:memberId/invitations', auth: 'operator', tag: 'admin', summary: 'An invitation link for a member to set their password (shown once)', status: 201 }, invite(byId));

  const Search = z.object({ q: z.string().trim().min(1).max(200), limit: z.coerce.number().int().min(1).max(100).optional() }).strict();
  t.add({ method: 'GET', url: '/admin/v1/accounts/search', auth: 'operator', tag: 'admin', summary: 'Find accounts by id, name or e-mail (?q=)', query: Search }, async (c) => {
    requireOperator(c.actor);
    const s = parseInput(Search, c.query, 'query');
    const like = `%${s.q.toLowerCase().replace(/[\\%_]/g, (x) => `\\${x}`)}%`;
    const rows = await rt.db.all(
      "SELECT * FROM accounts WHERE id = ? OR LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE ? ESCAPE '\\' ORDER BY name, id LIMIT ?",
      [s.q, like, like, s.limit ?? 50],
    );
    return { data: rows.map((r) => accountView(toAccount(r))) };
  });
}

function registerUsageRoutes(t: RouteTable, rt: Runtime): void {
  const handler = (scope: (a: Actor, f: z.infer<typeof UsageQuery>) => z.infer<typeof UsageQuery>) => async (c: Call) => {
    const f = scope(c.actor, parseInput(UsageQuery, c.query, 'query'));
    const rows = await usageTable(rt.db, f);
    const format = f.format ?? 'json';
    if (format === 'json') return { group_by: f.group_by ?? 'day', data: rows };
    c.reply.hijack();
    async function* it() {
      yield* rows as unknown as Record<string, unknown>[];
    }
    const filter = Object.fromEntries(Object.entries(f).filter(([k, v]) => v !== undefined && k !== 'format').map(([k, v]) => [k, k === 'from' || k === 'to' ? iso(v as number) : v]));
    await sendExport(c.reply.raw, USAGE_DATASET, format, exportFileName('surety-usage', format), it(), filter);
    return undefined;
  };
  const customer = (a: Actor, f: z.infer<typeof UsageQuery>) => {
    const cu = customerOf(a);
    if (f.account_id !== undefined && f.account_id !== cu.accountId) throw new AppError('NOT_FOUND', 'Not found.', { resource: 'account' });
    if (f.group_by === 'account') throw new AppError('VALIDATION', 'group_by: account is for operators', { field: 'group_by' });
    return { ...f, account_id: cu.accountId };
  };
  t.add({ method: 'GET', url: '/account/v1/usage', auth: 'customer', tag: 'account', summary: 'Usage analytics: requests, tokens, spend and outcomes by day, model, key, member or outcome (format=csv|ndjson exports)', query: UsageQuery }, handler(customer));
  t.add({ method: 'GET', url: '/admin/v1/usage', auth: 'operator', tag: 'admin', summary: 'Usage analytics across accounts (also group_by=account; format=csv|ndjson exports)', query: UsageQuery }, handler((_a, f) => f));
}

function registerNoticeRoutes(t: RouteTable, rt: Runtime): void {
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const receipt = async (c: Call) => {
    const r = await noticeReceipt(ctx(c), c.params.id!);
    c.reply.header('content-type', r.type).header('content-disposition', `attachment; filename="${r.name.replace(/["\\\r\n]/g, '_')}"`).header('x-content-type-options', 'nosniff');
    return c.reply.send(r.data);
  };
  t.add({ method: 'POST', url: '/account/v1/transfer-notices', auth: 'customer', tag: 'account', summary: 'Tell the platform about a bank transfer (amount, paid_on, payer, reference, contract_number, receipt); admins', body: NoticeInput, status: 201 }, async (c) =>
    createNotice(ctx(c), customerOf(c.actor).accountId, c.body));
  t.add({ method: 'GET', url: '/account/v1/transfer-notices', auth: 'customer', tag: 'account', summary: 'Your transfer notices and their state', query: NoticeQuery }, async (c) =>
    asData(await listNotices(ctx(c), { ...parseInput(NoticeQuery, c.query, 'query'), account_id: customerOf(c.actor).accountId })));
  t.add({ method: 'GET', url: '/account/v1/transfer-notices/:id/receipt', auth: 'customer', tag: 'account', summary: 'The receipt file of a transfer notice' }, receipt);
  t.add({ method: 'GET', url: '/admin/v1/transfer-notices', auth: 'operator', tag: 'admin', summary: 'The queue of transfer notices (?status=pending&account_id=)', query: NoticeQuery }, async (c) =>
    asData(await listNotices(ctx(c), parseInput(NoticeQuery, c.query, 'query'))));
  t.add({ method: 'GET', url: '/admin/v1/transfer-notices/:id/receipt', auth: 'operator', tag: 'admin', summary: 'The receipt file of a transfer notice' }, receipt);
  t.add({ method: 'POST', url: '/admin/v1/transfer-notices/:id/confirm', auth: 'operator', tag: 'admin', summary: 'Confirm a transfer notice: records the bank-transfer top-up with its reference, once', body: DecisionInput }, async (c) =>
    confirmNotice(ctx(c), c.params.id!, c.body));
  t.add({ method: 'POST', url: '/admin/v1/transfer-notices/:id/reject', auth: 'operator', tag: 'admin', summary: 'Reject a transfer notice (no money moves)', body: DecisionInput }, async (c) =>
    rejectNotice(ctx(c), c.params.id!, c.body));
}

const asData = <T>(p: { rows: T[]; next_cursor: string | null }) => ({ data: p.rows, next_cursor: p.next_cursor });
