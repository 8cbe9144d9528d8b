import { z } from 'zod';
import { AppError, isAppError } from '../kernel/errors.ts';
import { accountView, balanceView, getAccount, getBalance } from '../accounts/accounts.ts';
import { AddMemberInput, UpdateMemberInput, addMember, pageMembers, memberView, removeMember, updateMember } from '../accounts/members.ts';
import { requireRole } from '../kernel/authorisation.ts';
import { CreateKeyInput, UpdateKeyInput, createKey, keyView, listKeys, pageKeys, revokeKey, updateKey } from '../accounts/keys.ts';
import { journalPage } from '../billing/statement.ts';
import { creditView, pageCredits } from '../billing/credits.ts';
import { redeemCode } from '../billing/redemption.ts';
import { RedemptionThrottle } from '../billing/redemption-throttle.ts';
import { RefundRequestInput, getRefund, pageRefunds, refundView, requestRefund } from '../billing/refunds.ts';
import { pageTopups, topupView } from '../billing/topups.ts';
import { withActor, type Actor, type Runtime } from '../kernel/context.ts';
import { parseInput } from '../kernel/validation.ts';
import { SortedPaging, type RouteTable } from '../http/routes.ts';
import { ledgerView } from '../admin/views.ts';
import { describeCredits } from '../incidents/feed.ts';

/** The customer API: every route acts on the calling key's own account, never on another. */
export function registerAccountRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'account';
  const cu = 'customer' as const;
  const ctx = (c: { actor: Actor }) => withActor(rt, c.actor);
  const acct = (c: { actor: Actor }): string => {
    if (c.actor.type !== 'customer') throw new AppError('FORBIDDEN');
    return c.actor.accountId;
  };

  t.add({ method: 'GET', url: '/account/v1/account', auth: cu, tag, summary: 'The calling key\'s account' }, async (c) => accountView(await getAccount(ctx(c), acct(c))));
  t.add({ method: 'GET', url: '/account/v1/me', auth: cu, tag, summary: 'The calling key and its role' }, async (c) => {
    const a = c.actor as Extract<Actor, { type: 'customer' }>;
    const keys = await listKeys(ctx(c), a.accountId);
    const self = keys.find((k) => k.id === a.keyId);
    return { account_id: a.accountId, key: self ? keyView(self) : null, role: a.role, member_id: a.memberId };
  });
  t.add({ method: 'GET', url: '/account/v1/balance', auth: cu, tag, summary: 'Balance by bucket (paid, granted), held, available' }, async (c) => balanceView(await getBalance(ctx(c), acct(c))));
  t.add({ method: 'GET', url: '/account/v1/ledger', auth: cu, tag, summary: 'The account\'s journal, newest first (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    requireRole(c.actor, acct(c), 'viewer');
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await journalPage(rt.db, acct(c), { limit: p.limit ?? 100, before: p.before, sort: p.sort, cursor: p.cursor });
    return ledgerView(rows, p.limit ?? 100, next_cursor);
  });

  t.add({ method: 'GET', url: '/account/v1/keys', auth: cu, tag, summary: 'List keys (admins: all; members: their own; ?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageKeys(ctx(c), acct(c), { limit: p.limit ?? 1000, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(keyView), next_cursor };
  });
  t.add({ method: 'POST', url: '/account/v1/keys', auth: cu, tag, summary: 'Create a key sharing the account balance (secret returned once)', body: CreateKeyInput, status: 201 }, async (c) => {
    const { key, secret } = await createKey(ctx(c), acct(c), c.body);
    return { ...keyView(key), key: secret };
  });
  t.add({ method: 'PATCH', url: '/account/v1/keys/:keyId', auth: cu, tag, summary: 'Update a key\'s limits and allow-lists', body: UpdateKeyInput }, async (c) =>
    keyView(await updateKey(ctx(c), acct(c), c.params.keyId!, c.body)));
  t.add({ method: 'DELETE', url: '/account/v1/keys/:keyId', auth: cu, tag, summary: 'Revoke a key (immediate)' }, async (c) => keyView(await revokeKey(ctx(c), acct(c), c.params.keyId!)));

  t.add({ method: 'GET', url: '/account/v1/members', auth: cu, tag, summary: 'List members (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageMembers(ctx(c), acct(c), { limit: p.limit ?? 1000, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(memberView), next_cursor };
  });
  t.add({ method: 'POST', url: '/account/v1/members', auth: cu, tag, summary: 'Add a member (admins)', body: AddMemberInput, status: 201 }, async (c) => memberView(await addMember(ctx(c), acct(c), c.body)));
  t.add({ method: 'PATCH', url: '/account/v1/members/:memberId', auth: cu, tag, summary: 'Change a member\'s role (admins; owner role: owners)', body: UpdateMemberInput }, async (c) =>
    memberView(await updateMember(ctx(c), acct(c), c.params.memberId!, c.body)));
  t.add({ method: 'DELETE', url: '/account/v1/members/:memberId', auth: cu, tag, summary: 'Remove a member (admins)' }, async (c) => {
    await removeMember(ctx(c), acct(c), c.params.memberId!);
    return { ok: true };
  });

  t.add({ method: 'GET', url: '/account/v1/credits', auth: cu, tag, summary: 'Credits granted to the account (compensation, reissue, SLA, goodwill), newest first (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageCredits(ctx(c), acct(c), { limit: p.limit ?? 100, before: p.before, sort: p.sort, cursor: p.cursor });
    return { data: await describeCredits(rt.db, rows.map(creditView)), next_before: rows.length === (p.limit ?? 100) ? rows.at(-1)?.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: '/account/v1/topups', auth: cu, tag, summary: 'List top-ups (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageTopups(ctx(c), acct(c), { limit: p.limit ?? 100, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(topupView), next_cursor };
  });
  t.add({ method: 'POST', url: '/account/v1/refunds', auth: cu, tag, summary: 'Ask to refund a top-up (owners and admins)', body: RefundRequestInput, idempotent: true, status: 201 }, async (c) => {
    const { refund, replayed } = await requestRefund(ctx(c), acct(c), c.body, c.idempotencyKey);
    if (replayed) c.reply.header('idempotent-replayed', 'true');
    return refundView(refund);
  });
  t.add({ method: 'GET', url: '/account/v1/refunds', auth: cu, tag, summary: 'List refunds (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageRefunds(ctx(c), { accountId: acct(c), limit: p.limit ?? 100, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(refundView), next_cursor };
  });
  t.add({ method: 'GET', url: '/account/v1/refunds/:refundId', auth: cu, tag, summary: 'Get a refund' }, async (c) => refundView(await getRefund(ctx(c), c.params.refundId!)));
  const RedeemInput = z.object({ code: z.string() }).strict();
  // Failed redemptions are throttled per account and per client address (shared through Redis when set).
  const throttle = new RedemptionThrottle(undefined, rt.failures);
  t.add({ method: 'POST', url: '/account/v1/redeem', auth: cu, tag, summary: 'Redeem a code (failed attempts are throttled)', body: RedeemInput, status: 201 }, async (c) => {
    try {
      return topupView(await redeemCode(ctx(c), acct(c), parseInput(RedeemInput, c.body).code, { throttle, ip: c.request.ip ?? null }));
    } catch (e) {
      if (isAppError(e) && e.code === 'RATE_LIMITED') c.reply.header('retry-after', String(e.details?.retry_after));
      throw e;
    }
  });
}
