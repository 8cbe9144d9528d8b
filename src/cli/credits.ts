import { creditView, grantGoodwill, listCredits } from '../billing/credits.ts';
import { defined, limit, LIMIT_OPTION, newIdempotencyKey, required, str, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'credits grant',
    summary: 'Grant a goodwill credit into an account\'s granted bucket (the memo says why)',
    args: ['account'],
    options: {
      amount: { type: 'string', value: 'USD', help: 'the credit, a decimal string like 5.00' },
      memo: { type: 'string', value: 'TEXT', help: 'why (the customer sees it in the ledger)' },
      'ref-type': { type: 'string', value: 'TYPE', help: 'what it refers to, e.g. ticket (with --ref-id)' },
      'ref-id': { type: 'string', value: 'ID', help: 'the id of what it refers to (with --ref-type)' },
      'idempotency-key': { type: 'string', value: 'KEY', help: 'retry-safe key; one is generated and printed when omitted' },
    },
    details: [
      'Example: surety credits grant acct_… --amount 5.00 --memo "sorry for the outage on 3 March" --ref-type ticket --ref-id T-1234',
      'Compensation, incident reissuance and SLA credits are granted by their own engines, not here.',
    ].join('\n'),
    async run({ values: v, positionals: [account], io }) {
      const input = defined({
        amount: required(v, 'amount', 'credits grant'),
        memo: required(v, 'memo', 'credits grant'),
        ref_type: str(v, 'ref-type'),
        ref_id: str(v, 'ref-id'),
      });
      const given = str(v, 'idempotency-key');
      const key = given ?? newIdempotencyKey('credit');
      const { credit, replayed } = await withServices((ctx) => grantGoodwill(ctx, account!, input, key));
      const view = creditView(credit);
      io.result({ ...view, idempotency_key: key, replayed }, () => {
        io.line(replayed ? 'Already granted with this idempotency key; nothing new was written:' : 'Credit granted:');
        io.record(view);
        if (!given) io.line(`idempotency key: ${key} (pass --idempotency-key ${key} to retry safely)`);
      });
    },
  },
  {
    name: 'credits list',
    summary: 'An account\'s credits (compensation, reissue, SLA, goodwill), newest first',
    args: ['account'],
    options: { limit: LIMIT_OPTION },
    async run({ values: v, positionals: [account], io }) {
      const n = limit(v, 'credits list');
      const data = (await withServices((ctx) => listCredits(ctx, account!, { limit: n }))).map(creditView);
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['kind', 'KIND'],
          ['amount', 'AMOUNT'],
          ['ref_type', 'REF'],
          ['ref_id', 'REF ID'],
          ['memo', 'MEMO'],
          ['created_at', 'GRANTED'],
        ]),
      );
    },
  },
];
