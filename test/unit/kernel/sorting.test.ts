import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engines, openTestDb } from '../../helpers/engines.ts';
import { encodeCursor, pageSql, sortPlan, sortedPage, type SortSpec } from '../../../src/kernel/sorting.ts';
import { PG_URL } from '../../helpers/engines.ts';
import { isAppError } from '../../../src/kernel/errors.ts';

// The shared sort helper on both engines: every column both ways, paged two rows at a time, gives
// exactly the rows in the order a reference sort in JS gives; ties break by id; text is byte-wise.

const SPEC: SortSpec = {
  columns: { name: 'name', amount: 'amount', done_at: 'COALESCE(done_at, 0)', created_at: 'created_at' },
  text: ['name'],
  default: '-created_at',
};

// Duplicates in every column (ties), a NULL, upper and lower case and non-ASCII text.
const ROWS = [
  { id: 'r01', name: 'beta', amount: 5000000000n, done_at: null, created_at: 3 },
  { id: 'r02', name: 'Alpha', amount: 10n, done_at: 7, created_at: 1 },
  { id: 'r03', name: 'alpha', amount: 5000000000n, done_at: 7, created_at: 2 },
  { id: 'r04', name: 'Ärger', amount: -3n, done_at: null, created_at: 2 },
  { id: 'r05', name: 'beta', amount: 10n, done_at: 1, created_at: 5 },
  { id: 'r06', name: 'zeta', amount: 9007199254740993n, done_at: 9, created_at: 4 },
  { id: 'r07', name: 'Beta', amount: 0n, done_at: 2, created_at: 2 },
];

function reference(col: keyof (typeof ROWS)[number], desc: boolean): string[] {
  const key = (r: (typeof ROWS)[number]) => (col === 'done_at' ? BigInt(r.done_at ?? 0) : typeof r[col] === 'number' ? BigInt(r[col] as number) : r[col]);
  const cmp = (a: unknown, b: unknown) => (typeof a === 'string' ? Buffer.compare(Buffer.from(a), Buffer.from(b as string)) : a! < b! ? -1 : a! > b! ? 1 : 0);
  const sorted = [...ROWS].sort((a, b) => cmp(key(a), key(b)) || cmp(a.id, b.id));
  return (desc ? sorted.reverse() : sorted).map((r) => r.id);
}

for (const engine of engines()) {
  test(`sortedPage (${engine}): each column both ways, paged by 2, matches a byte-wise reference sort`, async () => {
    const t = await openTestDb(engine, { migrate: false });
    try {
      await t.db.run('CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL, amount BIGINT NOT NULL, done_at BIGINT, created_at BIGINT NOT NULL, tag TEXT NOT NULL)');
      for (const r of ROWS) await t.db.run('INSERT INTO things VALUES (?, ?, ?, ?, ?, ?)', [r.id, r.name, r.amount, r.done_at, r.created_at, r.id === 'r06' ? 'y' : 'x']);
      for (const col of ['name', 'amount', 'done_at', 'created_at'] as const) {
        for (const desc of [false, true]) {
          const sort = `${desc ? '-' : ''}${col}`;
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let i = 0; i < 10; i++) {
            const p = await sortedPage(t.db, { from: 'things', where: [], params: [], spec: SPEC, sort, cursor, limit: 2 });
            seen.push(...p.rows.map((r) => String(r.id)));
            assert.ok(p.rows.every((r) => !('sort_value' in r)), 'the helper columns are not leaked');
            if (!p.next_cursor) break;
            cursor = p.next_cursor;
          }
          assert.deepEqual(seen, reference(col, desc), `sort=${sort}`);
        }
      }
      // Filters work with the keyset; the default order applies without sort.
      const f = await sortedPage(t.db, { from: 'things', where: ['tag = ?'], params: ['x'], spec: SPEC, limit: 3 });
      assert.deepEqual(f.rows.map((r) => r.id), ['r05', 'r01', 'r07']);
      const f2 = await sortedPage(t.db, { from: 'things', where: ['tag = ?'], params: ['x'], spec: SPEC, limit: 3, cursor: f.next_cursor! });
      assert.deepEqual(f2.rows.map((r) => r.id), ['r04', 'r03', 'r02']);
    } finally {
      await t.dispose();
    }
  });
}

test('an unknown sort column, a cursor of another sort and a forged cursor are 400 VALIDATION naming the field', async () => {
  const t = await openTestDb('sqlite', { migrate: false });
  try {
    await t.db.run('CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL, amount BIGINT NOT NULL, done_at BIGINT, created_at BIGINT NOT NULL)');
    const fails = async (q: { sort?: string; cursor?: string }, field: string, re: RegExp) => {
      await assert.rejects(sortedPage(t.db, { from: 'things', where: [], params: [], spec: SPEC, limit: 2, ...q }), (e) => {
        assert.ok(isAppError(e) && e.code === 'VALIDATION' && e.status === 400, String(e));
        assert.equal(e.details?.field, field);
        assert.match(e.message, re);
        return true;
      });
    };
    await fails({ sort: 'password' }, 'sort', /unknown column "password".*sortable: name, amount/);
    await fails({ sort: '-tag; DROP TABLE things' }, 'sort', /unknown column/);
    await fails({ sort: 'toString' }, 'sort', /unknown column/);
    const byName = encodeCursor(sortPlan(SPEC, 'name', 'sqlite'), 'a', 'r01');
    await fails({ sort: '-amount', cursor: byName }, 'cursor', /made for sort=name, not sort=-amount/);
    await fails({ cursor: 'not-base64-json' }, 'cursor', /not a cursor/);
    await fails({ sort: 'amount', cursor: encodeCursor(sortPlan(SPEC, 'amount', 'sqlite'), '1 OR 1=1', 'r01') }, 'cursor', /not a cursor/);
  } finally {
    await t.dispose();
  }
});

test("every list route's sort columns are in the README's table, default first", async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const specs: Array<[string, SortSpec]> = [
    ['`GET /admin/v1/accounts`', (await import('../../../src/accounts/accounts.ts')).ACCOUNT_SORT],
    ['`GET …/keys`', (await import('../../../src/accounts/keys.ts')).KEY_SORT],
    ['`GET …/members`', (await import('../../../src/accounts/members.ts')).MEMBER_SORT],
    ['`GET …/topups`', (await import('../../../src/billing/topups.ts')).TOPUP_SORT],
    ['`GET /admin/v1/refunds`', (await import('../../../src/billing/refunds.ts')).REFUND_SORT],
    ['`GET …/credits`', (await import('../../../src/billing/credits.ts')).CREDIT_SORT],
    ['`GET …/ledger`', (await import('../../../src/billing/statement.ts')).LEDGER_SORT],
    ['`GET …/logs`', (await import('../../../src/requests/logs.ts')).LOG_SORT],
    ['`GET …/findings`', (await import('../../../src/detection/findings.ts')).FINDING_SORT],
    ['`GET …/disputes`', (await import('../../../src/detection/disputes.ts')).DISPUTE_SORT],
    ['`GET /admin/v1/incidents`', (await import('../../../src/incidents/service.ts')).INCIDENT_SORT],
    ['`GET …/transfer-notices`', (await import('../../../src/console/transfers.ts')).NOTICE_SORT],
    ['`GET /admin/v1/redemption-batches`', (await import('../../../src/billing/redemption.ts')).BATCH_SORT],
    ['`GET /admin/v1/audit`', (await import('../../../src/admin/views.ts')).AUDIT_SORT],
    ['`GET /admin/v1/contracts`', (await import('../../../src/contracts/contracts.ts')).CONTRACT_SORT],
    ['`GET /admin/v1/operators`', (await import('../../../src/console/people.ts')).OPERATOR_SORT],
    ['`GET /admin/v1/contracts/:id/periods`', (await import('../../../src/contracts/routes.ts')).PERIOD_SORT],
  ];
  for (const [route, spec] of specs) {
    const row = readme.split('\n').find((l) => l.startsWith(`| ${route}`));
    assert.ok(row, `README has a sort row for ${route}`);
    const cell = row.split(' | ')[1]!;
    assert.ok(cell.startsWith(`\`${spec.default}\` (default`), `${route}: the default ${spec.default} comes first`);
    const shown = new Set([...cell.matchAll(/`-?([a-z_]+)`/g)].map((m) => m[1]));
    assert.deepEqual([...shown].sort(), Object.keys(spec.columns).sort(), `${route}: the README lists exactly the sortable columns`);
  }
});

test('on PostgreSQL the default order and a time sort walk their indexes, also after a cursor (no sort of the whole table)', { skip: PG_URL ? false : 'SURETY_TEST_DATABASE_URL not set' }, async () => {
  const t = await openTestDb('postgres', { migrate: false });
  try {
    await t.db.run('CREATE TABLE big (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL)');
    await t.db.run('CREATE INDEX big_time ON big(created_at)');
    await t.db.run("INSERT INTO big SELECT 'big_' || lpad(g::text, 10, '0'), 'n' || (g % 97), g / 3 FROM generate_series(1, 50000) g");
    await t.db.run('ANALYZE big');
    const spec: SortSpec = { columns: { id: 'id', name: 'name', created_at: 'created_at' }, text: ['id', 'name'], default: '-id' };
    const plan = async (sort: string | undefined, cursor?: string) => {
      const q = pageSql({ from: 'big', where: [], params: [], spec, sort, cursor, limit: 50 }, 'postgres');
      const rows = await t.db.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${q.sql}`, q.params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    for (const [sort, index] of [[undefined, 'big_pkey'], ['id', 'big_pkey'], ['-created_at', 'big_time'], ['created_at', 'big_time']] as const) {
      const first = await plan(sort);
      assert.match(first, new RegExp(`Index Scan.* on big|using ${index}`), `sort=${sort}: ${first}`);
      assert.doesNotMatch(first, /Seq Scan/, `sort=${sort}: ${first}`);
      const p1 = await sortedPage(t.db, { from: 'big', where: [], params: [], spec, sort, limit: 50 });
      const after = await plan(sort, p1.next_cursor!);
      assert.match(after, new RegExp(`using ${index}`), `sort=${sort} after a cursor: ${after}`);
      assert.match(after, /Index Cond/, `sort=${sort} after a cursor starts at the cursor: ${after}`);
      assert.doesNotMatch(after, /Seq Scan/, `sort=${sort} after a cursor: ${after}`);
    }
  } finally {
    await t.dispose();
  }
});
