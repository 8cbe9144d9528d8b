import { z } from 'zod';
import { CreateAccountInput, UpdateAccountInput, accountView, balanceView, createAccount, getAccount, getBalance, pageAccounts, updateAccount } from '../accounts/accounts.ts';
import { AddMemberInput, UpdateMemberInput, addMember, pageMembers, memberView, removeMember, updateMember } from '../accounts/members.ts';
import { CreateKeyInput, UpdateKeyInput, createKey, keyView, pageKeys, revokeKey, updateKey } from '../accounts/keys.ts';
import { GoodwillInput, creditView, grantGoodwill, pageCredits } from '../billing/credits.ts';
import { CreateHoldInput, createHold, getHold, holdView, postHold, voidHold } from '../billing/holds.ts';
import { journalPage } from '../billing/statement.ts';
import { CreateBatchInput, batchView, createRedemptionBatch, listBatchCodes, pageRedemptionBatches, redeemCode } from '../billing/redemption.ts';
import { DecisionInput, RefundRequestInput, approveRefund, getRefund, pageRefunds, refundView, rejectRefund, requestRefund } from '../billing/refunds.ts';
import { TopupInput, pageTopups, recordTopup, topupView } from '../billing/topups.ts';
import { verifyLedger } from '../billing/verify.ts';
import { withActor, type Runtime } from '../kernel/context.ts';
import { parseInput, usdAmount } from '../kernel/validation.ts';
import { SortedPaging, type RouteTable } from '../http/routes.ts';
import { ledgerView, pageAudit } from './views.ts';
import { listInstances } from '../cluster/registry.ts';

// The operator API (/admin/v1) over the account and money services: each route parses, calls one
// service and shows the result. Catalog routes are in catalog-routes.ts, logs in requests/logs.ts.

export function registerAdminRoutes(t: RouteTable, rt: Runtime): void {
  registerAccountRoutes(t, rt);
  registerMoneyRoutes(t, rt);
  registerOversightRoutes(t, rt);
}

/** Accounts, their keys and members. */
function registerAccountRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'admin';
  const op = 'operator' as const;
  const ctx = (c: { actor: Parameters<typeof withActor>[1] }) => withActor(rt, c.actor);

  t.add({ method: 'POST', url: '/admin/v1/accounts', auth: op, tag, summary: 'Create an individual or enterprise account', body: CreateAccountInput, status: 201 }, async (c) =>
    accountView(await createAccount(ctx(c), c.body)));
  t.add({ method: 'GET', url: '/admin/v1/accounts', auth: op, tag, summary: 'List accounts (?sort=&cursor=&limit=; legacy: paged by id with ?after=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageAccounts(ctx(c), { limit: p.limit ?? 100, after: p.after, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(accountView), next_after: rows.length === (p.limit ?? 100) ? rows.at(-1)?.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id', auth: op, tag, summary: 'Get an account' }, async (c) => accountView(await getAccount(ctx(c), c.params.id!)));
  t.add({ method: 'PATCH', url: '/admin/v1/accounts/:id', auth: op, tag, summary: 'Update an account (name, status, group, credit line, spending order)', body: UpdateAccountInput }, async (c) =>
    accountView(await updateAccount(ctx(c), c.params.id!, c.body)));
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/balance', auth: op, tag, summary: 'Balance by bucket (paid, granted), held, available' }, async (c) =>
    balanceView(await getBalance(ctx(c), c.params.id!)));
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/ledger', auth: op, tag, summary: "The account's journal, newest first (?sort=&cursor=&limit=; legacy: ?before=<tx id>)", query: SortedPaging }, async (c) => {
    await getAccount(ctx(c), c.params.id!);
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await journalPage(rt.db, c.params.id!, { limit: p.limit ?? 100, before: p.before, sort: p.sort, cursor: p.cursor });
    return ledgerView(rows, p.limit ?? 100, next_cursor);
  });

  // keys
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/keys', auth: op, tag, summary: 'Create an API key (the secret is returned once)', body: CreateKeyInput, status: 201 }, async (c) => {
    const { key, secret } = await createKey(ctx(c), c.params.id!, c.body);
    return { ...keyView(key), key: secret };
  });
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/keys', auth: op, tag, summary: "List an account's keys (?sort=&cursor=&limit=)", query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageKeys(ctx(c), c.params.id!, { limit: p.limit ?? 1000, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(keyView), next_cursor };
  });
  t.add({ method: 'PATCH', url: '/admin/v1/accounts/:id/keys/:keyId', auth: op, tag, summary: "Update a key's limits and allow-lists", body: UpdateKeyInput }, async (c) =>
    keyView(await updateKey(ctx(c), c.params.id!, c.params.keyId!, c.body)));
  t.add({ method: 'DELETE', url: '/admin/v1/accounts/:id/keys/:keyId', auth: op, tag, summary: 'Revoke a key (immediate)' }, async (c) => keyView(await revokeKey(ctx(c), c.params.id!, c.params.keyId!)));

  // members
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/members', auth: op, tag, summary: 'Add a member to an enterprise account', body: AddMemberInput, status: 201 }, async (c) =>
    memberView(await addMember(ctx(c), c.params.id!, c.body)));
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/members', auth: op, tag, summary: 'List members (?sort=&cursor=&limit=)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageMembers(ctx(c), c.params.id!, { limit: p.limit ?? 1000, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(memberView), next_cursor };
  });
  t.add({ method: 'PATCH', url: '/admin/v1/accounts/:id/members/:memberId', auth: op, tag, summary: "Change a member's role", body: UpdateMemberInput }, async (c) =>
    memberView(await updateMember(ctx(c), c.params.id!, c.params.memberId!, c.body)));
  t.add({ method: 'DELETE', url: '/admin/v1/accounts/:id/members/:memberId', auth: op, tag, summary: 'Remove a member (their keys are revoked)' }, async (c) => {
    await removeMember(ctx(c), c.params.id!, c.params.memberId!);
    return { ok: true };
  });
}

/** Money in and out: top-ups, redemption, holds, refunds, credits. */
function registerMoneyRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'admin';
  const op = 'operator' as const;
  const ctx = (c: { actor: Parameters<typeof withActor>[1] }) => withActor(rt, c.actor);

  // money in
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/topups', auth: op, tag, summary: 'Record a payment (bank_transfer, card, other) with optional bonus', body: TopupInput, idempotent: true, status: 201 }, async (c) => {
    const { topup, replayed } = await recordTopup(ctx(c), c.params.id!, c.body, c.idempotencyKey);
    if (replayed) c.reply.header('idempotent-replayed', 'true');
    return topupView(topup);
  });
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/topups', auth: op, tag, summary: "List an account's top-ups (?sort=&cursor=&limit=)", query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageTopups(ctx(c), c.params.id!, { limit: p.limit ?? 100, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(topupView), next_cursor };
  });
  const RedeemInput = z.object({ code: z.string() }).strict();
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/credits', auth: op, tag, summary: 'Grant a goodwill credit into the granted bucket (memo says why)', body: GoodwillInput, idempotent: true, status: 201 }, async (c) => {
    const { credit, replayed } = await grantGoodwill(ctx(c), c.params.id!, c.body, c.idempotencyKey);
    if (replayed) c.reply.header('idempotent-replayed', 'true');
    return creditView(credit);
  });
  t.add({ method: 'GET', url: '/admin/v1/accounts/:id/credits', auth: op, tag, summary: "An account's credits, newest first (?sort=&cursor=&limit=; legacy: ?before=<credit id>)", query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageCredits(ctx(c), c.params.id!, { limit: p.limit ?? 100, before: p.before, sort: p.sort, cursor: p.cursor });
    return { data: rows.map(creditView), next_before: rows.length === (p.limit ?? 100) ? rows.at(-1)?.id : null, next_cursor };
  });
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/redeem', auth: op, tag, summary: 'Redeem a code into an account', body: RedeemInput, status: 201 }, async (c) =>
    topupView(await redeemCode(ctx(c), c.params.id!, parseInput(RedeemInput, c.body).code)));
  t.add({ method: 'POST', url: '/admin/v1/redemption-batches', auth: op, tag, summary: 'Generate a batch of redemption codes (codes shown once)', body: CreateBatchInput, status: 201 }, async (c) => {
    const { batch, codes } = await createRedemptionBatch(ctx(c), c.body);
    return { ...batchView(batch), codes };
  });
  t.add({ method: 'GET', url: '/admin/v1/redemption-batches', auth: op, tag, summary: 'Redemption batches, newest first, with how many codes were redeemed (?sort=&cursor=&limit=; legacy: ?before=<batch id>)', query: SortedPaging }, async (c) => {
    const p = parseInput(SortedPaging, c.query, 'query');
    const { rows, next_cursor } = await pageRedemptionBatches(ctx(c), { limit: p.limit ?? 100, before: p.before, sort: p.sort, cursor: p.cursor });
    return { data: rows.map((r) => batchView(r.batch, r.redeemed)), next_before: rows.length === (p.limit ?? 100) ? rows.at(-1)?.batch.id : null, next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/redemption-batches/:id/codes', auth: op, tag, summary: 'Codes of a batch with their redemption state (hints only)' }, async (c) => ({ data: await listBatchCodes(ctx(c), c.params.id!) }));

  // holds
  const HoldBody = z.object({ amount: usdAmount(), ttl_seconds: z.number().int().optional(), key_id: z.string().optional(), reference: z.string().optional() }).strict();
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/holds', auth: op, tag, summary: 'Reserve an amount (a hold)', body: HoldBody, idempotent: true, status: 201 }, async (c) => {
    const b = parseInput(HoldBody, c.body);
    return holdView(await createHold(ctx(c), c.params.id!, parseInput(CreateHoldInput, { ...b }), c.idempotencyKey));
  });
  t.add({ method: 'GET', url: '/admin/v1/holds/:holdId', auth: op, tag, summary: 'Get a hold' }, async (c) => holdView(await getHold(rt, c.params.holdId!)));
  const PostBody = z.object({ amount: usdAmount({ allowZero: true }) }).strict();
  t.add({ method: 'POST', url: '/admin/v1/holds/:holdId/post', auth: op, tag, summary: 'Post part or all of a hold as a charge', body: PostBody, idempotent: true }, async (c) =>
    holdView(await postHold(ctx(c), c.params.holdId!, parseInput(PostBody, c.body).amount, c.idempotencyKey)));
  t.add({ method: 'POST', url: '/admin/v1/holds/:holdId/void', auth: op, tag, summary: 'Void a hold (nothing charged)' }, async (c) => holdView(await voidHold(ctx(c), c.params.holdId!)));

  // refunds
  t.add({ method: 'POST', url: '/admin/v1/accounts/:id/refunds', auth: op, tag, summary: 'Request a refund of a top-up on behalf of the customer', body: RefundRequestInput, idempotent: true, status: 201 }, async (c) =>
    refundView((await requestRefund(ctx(c), c.params.id!, c.body, c.idempotencyKey)).refund));
  const RefundFilter = SortedPaging.extend({ status: z.enum(['pending', 'approved', 'rejected']).optional(), account_id: z.string().optional() });
  t.add({ method: 'GET', url: '/admin/v1/refunds', auth: op, tag, summary: 'List refunds (?status=pending&account_id=&sort=&cursor=&limit=)', query: RefundFilter }, async (c) => {
    const f = parseInput(RefundFilter, c.query, 'query');
    const { rows, next_cursor } = await pageRefunds(ctx(c), { accountId: f.account_id, status: f.status, limit: f.limit ?? 100, sort: f.sort, cursor: f.cursor });
    return { data: rows.map(refundView), next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/refunds/:refundId', auth: op, tag, summary: 'Get a refund' }, async (c) => refundView(await getRefund(ctx(c), c.params.refundId!)));
  t.add({ method: 'POST', url: '/admin/v1/refunds/:refundId/approve', auth: op, tag, summary: 'Approve a refund: writes the ledger entries against the original payment', body: DecisionInput }, async (c) =>
    refundView(await approveRefund(ctx(c), c.params.refundId!, c.body)));
  t.add({ method: 'POST', url: '/admin/v1/refunds/:refundId/reject', auth: op, tag, summary: 'Reject a refund', body: DecisionInput }, async (c) =>
    refundView(await rejectRefund(ctx(c), c.params.refundId!, c.body)));
}

/** The audit log and the ledger's invariants. */
function registerOversightRoutes(t: RouteTable, rt: Runtime): void {
  const tag = 'admin';
  const op = 'operator' as const;
  // audit and invariants
  const AuditFilter = SortedPaging.extend({
    account_id: z.string().optional(), target_type: z.string().optional(), target_id: z.string().optional(), action: z.string().optional(),
    // Audit entries are paged by their numeric id.
    before: z.string().regex(/^[0-9]{1,15}$/, 'must be an audit entry id').optional(),
  });
  t.add({ method: 'GET', url: '/admin/v1/audit', auth: op, tag, summary: 'Audit entries, newest first', query: AuditFilter }, async (c) => {
    const f = parseInput(AuditFilter, c.query, 'query');
    const { rows, next_cursor } = await pageAudit(rt.db, { accountId: f.account_id, targetType: f.target_type, targetId: f.target_id, action: f.action, limit: f.limit ?? 100, before: f.before, sort: f.sort, cursor: f.cursor });
    return { data: rows, next_cursor };
  });
  t.add({ method: 'GET', url: '/admin/v1/instances', auth: op, tag, summary: 'Gateway instances signed in to this database (last day), with the jobs each runs' }, async () => ({
    data: await listInstances(rt, rt.config.instanceTtlSeconds * 1000),
  }));
  t.add({ method: 'GET', url: '/admin/v1/ledger/verify', auth: op, tag, summary: 'Check every ledger invariant' }, async (c) => {
    const report = await verifyLedger(rt.db, rt.now());
    if (!report.ok) c.reply.code(409);
    return report;
  });
}
