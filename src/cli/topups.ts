import { listTopups, recordTopup, topupView } from '../billing/topups.ts';
import { defined, flag, limit, LIMIT_OPTION, newIdempotencyKey, required, str, UsageError, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'topup',
    summary: 'Record a payment received (bank_transfer, card, other), with an optional bonus',
    args: ['account'],
    options: {
      amount: { type: 'string', value: 'USD', help: 'amount paid, a decimal string like 100.00 (goes to the paid bucket)' },
      method: { type: 'string', value: 'METHOD', help: 'bank_transfer | card | other' },
      reference: { type: 'string', value: 'REF', help: 'payment reference (required for bank_transfer)' },
      'contract-number': { type: 'string', value: 'NO', help: 'contract or invoice number' },
      bonus: { type: 'string', value: 'USD', help: 'bonus granted with this payment (granted bucket; taken back on refund)' },
      invoiced: { type: 'boolean', help: 'the payment was invoiced (then non-refundable unless --refundable)' },
      refundable: { type: 'boolean', help: 'allow refunds of an invoiced payment' },
      'non-refundable': { type: 'boolean', help: 'mark the payment non-refundable' },
      note: { type: 'string', value: 'TEXT', help: 'internal note' },
      'idempotency-key': { type: 'string', value: 'KEY', help: 'retry-safe key; one is generated and printed when omitted' },
    },
    details: [
      'Example: surety topup acct_… --amount 100.00 --method bank_transfer --reference "INV-2041" --bonus 10.00',
      'Re-running with the same --idempotency-key and the same arguments records nothing new and prints',
      'the first result; the same key with other arguments fails with IDEMPOTENCY_CONFLICT.',
    ].join('\n'),
    async run({ values: v, positionals: [account], io }) {
      if (flag(v, 'refundable') && flag(v, 'non-refundable')) throw new UsageError('--refundable and --non-refundable contradict each other', 'topup');
      const input = defined({
        amount: required(v, 'amount', 'topup'),
        method: required(v, 'method', 'topup'),
        reference: str(v, 'reference'),
        contract_number: str(v, 'contract-number'),
        bonus: str(v, 'bonus'),
        invoiced: flag(v, 'invoiced') || undefined,
        refundable: flag(v, 'refundable') ? true : flag(v, 'non-refundable') ? false : undefined,
        note: str(v, 'note'),
      });
      const given = str(v, 'idempotency-key');
      const key = given ?? newIdempotencyKey('topup');
      const { topup, replayed } = await withServices((ctx) => recordTopup(ctx, account!, input, key));
      const view = topupView(topup);
      io.result({ ...view, idempotency_key: key, replayed }, () => {
        io.line(replayed ? 'Already recorded with this idempotency key; nothing new was written:' : 'Top-up recorded:');
        io.record(view);
        if (!given) io.line(`idempotency key: ${key} (pass --idempotency-key ${key} to retry safely)`);
      });
    },
  },
  {
    name: 'topups list',
    summary: 'List an account\'s top-ups, newest first',
    args: ['account'],
    options: { limit: LIMIT_OPTION },
    async run({ values: v, positionals: [account], io }) {
      const data = (await withServices((ctx) => listTopups(ctx, account!, limit(v, 'topups list')))).map(topupView);
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['method', 'METHOD'],
          ['amount', 'AMOUNT'],
          ['bonus', 'BONUS'],
          ['refunded', 'REFUNDED'],
          ['refundable', 'REFUNDABLE'],
          ['reference', 'REFERENCE'],
          ['created_at', 'CREATED'],
        ]),
      );
    },
  },
];
