import { getAccount } from '../accounts/accounts.ts';
import { accountJournal } from '../billing/statement.ts';
import { verifyLedger, type VerifyReport } from '../billing/verify.ts';
import { ledgerView } from '../admin/views.ts';
import { limit, LIMIT_OPTION, str, withServices, type Command, type Io } from './framework.ts';

/** Exit status of `surety ledger verify` when an invariant fails (1 and 2 are errors and usage). */
export const VERIFY_FAILED_EXIT = 3;

// What each check of src/billing/verify.ts proves, for the readable report.
const CHECKS: Array<[string, string]> = [
  ['balanced_transactions', 'every journal transaction has two or more entries summing to zero'],
  ['materialised_balances', 'every book balance equals the sum of its entries'],
  ['held_matches_open_holds', "every account's held amount equals the sum of its open holds"],
  ['no_expired_open_holds', 'no open hold is past its expiry'],
  ['within_credit_line', 'no customer balance is below its credit line'],
  ['payments_have_entries', 'every top-up, approved refund and credit has its journal transaction'],
  ['usage_matches_request_log', "every usage transaction equals the sum of its requests' amounts"],
];

function printReport(io: Io, report: VerifyReport): void {
  const n = report.problems.length;
  io.line(report.ok ? 'Ledger verified: every invariant holds.' : `Ledger verification FAILED: ${n} problem${n === 1 ? '' : 's'}.`);
  io.line();
  const names = [...CHECKS.map(([c]) => c), ...new Set(report.problems.map((p) => p.check).filter((c) => !CHECKS.some(([k]) => k === c)))];
  const w = Math.max(...names.map((c) => c.length));
  for (const name of names) {
    const problems = report.problems.filter((p) => p.check === name);
    const what = CHECKS.find(([c]) => c === name)?.[1] ?? '';
    io.line(`  ${problems.length ? 'FAIL' : 'ok  '}  ${name.padEnd(w)}  ${what}`.trimEnd());
    for (const p of problems) io.line(`          ${p.subject}: ${p.detail}`);
  }
  io.line();
  io.line(`Checked: ${Object.entries(report.checked).map(([k, v]) => `${v} ${k.replaceAll('_', ' ')}`).join(', ')}.`);
}

export const commands: Command[] = [
  {
    name: 'ledger verify',
    summary: 'Prove every ledger invariant from the raw entries; exit 3 with a report when one fails',
    options: { limit: { type: 'string', value: 'N', help: 'report at most N problems per query (default 100)' } },
    details: [
      'Checks (read-only):',
      ...CHECKS.map(([c, what]) => `  ${c}: ${what}`),
      '',
      'Exit status: 0 all invariants hold, 3 at least one fails (the report says which and where),',
      '1 an error, 2 bad arguments or configuration.',
      'A hold that expired moments ago may be reported until the gateway\'s sweeper (every 10 s) or',
      '`surety holds expire` voids it.',
    ].join('\n'),
    async run({ values: v, io }) {
      const max = limit(v, 'ledger verify');
      const report = await withServices((_ctx, rt) => verifyLedger(rt.db, rt.now(), max));
      io.result(report, () => printReport(io, report));
      return report.ok ? 0 : VERIFY_FAILED_EXIT;
    },
  },
  {
    name: 'ledger show',
    summary: 'An account\'s journal, newest first, with the movement on each bucket',
    args: ['account'],
    options: {
      limit: LIMIT_OPTION,
      before: { type: 'string', value: 'TX', help: 'older than this transaction id (the previous page\'s next_before)' },
    },
    async run({ values: v, positionals: [account], io }) {
      const n = limit(v, 'ledger show');
      const view = await withServices(async (ctx, rt) => {
        await getAccount(ctx, account!);
        return ledgerView(await accountJournal(rt.db, account!, { limit: n, before: str(v, 'before') }), n);
      });
      io.result(view, () => {
        io.table(view.data as Array<Record<string, unknown>>, [
          ['at', 'AT'],
          ['kind', 'KIND'],
          ['amount', 'AMOUNT'],
          ['paid', 'PAID'],
          ['granted', 'GRANTED'],
          ['ref_type', 'REF'],
          ['ref_id', 'REF ID'],
          ['memo', 'MEMO'],
        ]);
        if (view.next_before) io.line(`(more: --before ${String(view.next_before)})`);
      });
    },
  },
];
