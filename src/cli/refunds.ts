import { approveRefund, getRefund, listRefunds, refundView, rejectRefund, requestRefund } from '../billing/refunds.ts';
import { defined, limit, LIMIT_OPTION, newIdempotencyKey, required, str, UsageError, withServices, type Command } from './framework.ts';

const STATUSES = ['pending', 'approved', 'rejected'];

export const commands: Command[] = [
  {
    name: 'refunds list',
    summary: 'List refunds, newest first',
    options: {
      status: { type: 'string', value: 'STATUS', help: 'pending | approved | rejected' },
      account: { type: 'string', value: 'ID', help: 'only this account\'s refunds' },
      limit: LIMIT_OPTION,
    },
    async run({ values: v, io }) {
      const status = str(v, 'status');
      if (status !== undefined && !STATUSES.includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`, 'refunds list');
      const n = limit(v, 'refunds list');
      const data = (await withServices((ctx) => listRefunds(ctx, { accountId: str(v, 'account'), status, limit: n }))).map(refundView);
      io.result({ data }, () =>
        io.table(
          data,
          [
            ['id', 'ID'],
            ['account_id', 'ACCOUNT'],
            ['topup_id', 'TOP-UP'],
            ['amount', 'AMOUNT'],
            ['fee', 'FEE'],
            ['payout', 'PAYOUT'],
            ['fee_estimate', 'EST. FEE'],
            ['payout_estimate', 'EST. PAYOUT'],
            ['status', 'STATUS'],
            ['created_at', 'REQUESTED'],
          ],
        ),
      );
    },
  },
  {
    name: 'refunds show',
    summary: 'Show a refund',
    args: ['refund'],
    async run({ positionals: [id], io }) {
      const view = refundView(await withServices((ctx) => getRefund(ctx, id!)));
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'refunds request',
    summary: 'Ask to refund a top-up on the customer\'s behalf (an operator then approves or rejects)',
    args: ['account'],
    options: {
      topup: { type: 'string', value: 'ID', help: 'the top-up to refund (see `surety topups list`)' },
      amount: { type: 'string', value: 'USD', help: 'how much (default: all that can be refunded now)' },
      reason: { type: 'string', value: 'TEXT', help: 'why' },
      'idempotency-key': { type: 'string', value: 'KEY', help: 'retry-safe key; one is generated and printed when omitted' },
    },
    async run({ values: v, positionals: [account], io }) {
      const input = defined({ topup_id: required(v, 'topup', 'refunds request'), amount: str(v, 'amount'), reason: str(v, 'reason') });
      const given = str(v, 'idempotency-key');
      const key = given ?? newIdempotencyKey('refund');
      const { refund, replayed } = await withServices((ctx) => requestRefund(ctx, account!, input, key));
      const view = refundView(refund);
      io.result({ ...view, idempotency_key: key, replayed }, () => {
        io.line(replayed ? 'Already requested with this idempotency key:' : 'Refund requested (pending approval):');
        io.record(view);
        if (!given) io.line(`idempotency key: ${key}`);
      });
    },
  },
  {
    name: 'refunds approve',
    summary: 'Approve a pending refund: writes the ledger entries against the original payment',
    args: ['refund'],
    options: { note: { type: 'string', value: 'TEXT', help: 'decision note' } },
    details: 'The fee for the payment method is kept and the bonus given with the top-up is taken back.\nApproving an approved refund prints it unchanged.',
    async run({ values: v, positionals: [id], io }) {
      const view = refundView(await withServices((ctx) => approveRefund(ctx, id!, defined({ note: str(v, 'note') }))));
      io.result(view, () => io.record(view));
    },
  },
  {
    name: 'refunds reject',
    summary: 'Reject a pending refund (no money moves)',
    args: ['refund'],
    options: { note: { type: 'string', value: 'TEXT', help: 'decision note (the customer sees it)' } },
    async run({ values: v, positionals: [id], io }) {
      const view = refundView(await withServices((ctx) => rejectRefund(ctx, id!, defined({ note: str(v, 'note') }))));
      io.result(view, () => io.record(view));
    },
  },
];
