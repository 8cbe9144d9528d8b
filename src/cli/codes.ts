import { batchView, createRedemptionBatch, listBatchCodes, listRedemptionBatches, redeemCode } from '../billing/redemption.ts';
import { topupView } from '../billing/topups.ts';
import { defined, int, limit, LIMIT_OPTION, required, str, withServices, type Command } from './framework.ts';

export const commands: Command[] = [
  {
    name: 'codes generate',
    summary: 'Generate a batch of redemption codes (printed once; stored hashed)',
    options: {
      count: { type: 'string', value: 'N', help: 'how many codes (1..10000)' },
      amount: { type: 'string', value: 'USD', help: 'value of each code, e.g. 25.00' },
      expires: { type: 'string', value: 'ISO', help: 'codes expire at this time, e.g. 2026-12-31T00:00:00Z' },
      bucket: { type: 'string', value: 'BUCKET', help: 'paid (default) | granted: where redeemed value lands' },
      note: { type: 'string', value: 'TEXT', help: 'internal note (campaign, customer)' },
    },
    details: 'Example: surety codes generate --count 50 --amount 10.00 --expires 2026-12-31T00:00:00Z --bucket granted',
    async run({ values: v, io }) {
      required(v, 'count', 'codes generate');
      const input = defined({
        count: int(v, 'count'),
        amount: required(v, 'amount', 'codes generate'),
        expires_at: str(v, 'expires'),
        bucket: str(v, 'bucket'),
        note: str(v, 'note'),
      });
      const { batch, codes } = await withServices((ctx) => createRedemptionBatch(ctx, input));
      const view = batchView(batch);
      io.result({ ...view, codes }, () => {
        io.record(view);
        io.line();
        io.line(`Codes (shown once; ${codes.length}):`);
        for (const c of codes) io.line(c);
      });
    },
  },
  {
    name: 'codes batches',
    summary: 'Redemption batches, newest first, with how many of their codes were redeemed',
    options: {
      limit: LIMIT_OPTION,
      before: { type: 'string', value: 'ID', help: 'older than this batch id (the previous page\'s next_before)' },
    },
    async run({ values: v, io }) {
      const n = limit(v, 'codes batches');
      const rows = await withServices((ctx) => listRedemptionBatches(ctx, { limit: n, before: str(v, 'before') }));
      const data = rows.map((r) => batchView(r.batch, r.redeemed));
      const next = rows.length === n ? rows.at(-1)!.batch.id : null;
      io.result({ data, next_before: next }, () => {
        io.table(data, [
          ['id', 'ID'],
          ['amount', 'AMOUNT'],
          ['count', 'CODES'],
          ['redeemed', 'REDEEMED'],
          ['bucket', 'BUCKET'],
          ['expires_at', 'EXPIRES'],
          ['note', 'NOTE'],
          ['created_at', 'CREATED'],
        ]);
        if (next) io.line(`(more: --before ${next})`);
      });
    },
  },
  {
    name: 'codes list',
    summary: 'The codes of a batch with their redemption state (last four characters only)',
    args: ['batch'],
    async run({ positionals: [batch], io }) {
      const data = await withServices((ctx) => listBatchCodes(ctx, batch!));
      io.result({ data }, () =>
        io.table(data, [
          ['id', 'ID'],
          ['hint', 'CODE'],
          ['amount', 'AMOUNT'],
          ['expires_at', 'EXPIRES'],
          ['redeemed_by', 'REDEEMED BY'],
          ['redeemed_at', 'REDEEMED'],
        ]),
      );
    },
  },
  {
    name: 'codes redeem',
    summary: 'Redeem a code into an account (each code redeems once)',
    args: ['account', 'code'],
    async run({ positionals: [account, code], io }) {
      const view = topupView(await withServices((ctx) => redeemCode(ctx, account!, code!)));
      io.result(view, () => io.record(view));
    },
  },
];
