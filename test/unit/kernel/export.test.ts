// The one export format: CSV cells are escaped (RFC 4180) and a text a spreadsheet would run as a
// formula is neutralised (CSV injection), reversibly; files are described by a manifest whose
// hashes, rows and sums per account `verifyExportDir` recomputes from the bytes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { csvCell, csvText, exportHeader, exportLine, exportManifest, writeExportDir, type Dataset } from '../../../src/kernel/export.ts';
import { readCsv, verifyExportDir } from '../../../src/kernel/export-verify.ts';

test('formula-looking texts get a leading apostrophe; numbers, also negative, do not', () => {
  for (const s of ['=HYPERLINK("http://evil","x")', '+1+cmd', '-2+3', '@SUM(A1)', '\tx', '\rx', "'=already"]) assert.ok(csvCell(s).replace(/^"/, '').startsWith("'"), s);
  assert.equal(csvCell('=1+1'), "'=1+1");
  assert.equal(csvCell("'=1+1"), "''=1+1", 'an apostrophe the text had is kept, so the defence can be undone exactly');
  assert.equal(csvCell('-5.25'), '-5.25');
  assert.equal(csvCell('12'), '12');
  assert.equal(csvCell(-3), '-3');
  assert.equal(csvCell('gpt-4o-mini'), 'gpt-4o-mini');
  assert.equal(csvCell("'quoted"), "'quoted", 'an apostrophe before plain text is not a defence');
});

test('the defence is undone exactly by csvText', () => {
  for (const s of ['=1+1', "'=1+1", "''@x", "'quoted", 'plain', '-5.25', '', "'"]) {
    const cell = csvCell(s);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell;
    assert.equal(csvText(unquoted), s, JSON.stringify(s));
  }
});

test('quotes, commas and line breaks are quoted; objects are JSON; null is empty', () => {
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
  assert.equal(csvCell(null), '');
  assert.equal(csvCell(false), 'false');
});

test('a line per row: exactly the columns, in order, in CSV and NDJSON', () => {
  assert.equal(exportHeader('csv', ['a', 'b']), 'a,b\n');
  assert.equal(exportHeader('ndjson', ['a', 'b']), '');
  assert.equal(exportLine('csv', ['a', 'b'], { a: '=x', b: 2, c: 'not a column' }), "'=x,2\n");
  assert.equal(exportLine('ndjson', ['b', 'a'], { a: '=x', b: 2, c: 'not a column' }), '{"b":2,"a":"=x"}\n');
  assert.equal(exportLine('ndjson', ['a', 'z'], { a: 1 }), '{"a":1,"z":null}\n', 'a missing value is null, never absent');
});

test('the CSV reader reads quoted cells split across chunks', async () => {
  const text = 'a,b\n"x,""y""\nz",2\n,\n';
  async function* chunks() {
    for (const ch of text) yield ch; // one character at a time: every boundary is crossed
  }
  const rows: string[][] = [];
  for await (const r of readCsv(chunks())) rows.push(r);
  assert.deepEqual(rows, [['a', 'b'], ['x,"y"\nz', '2'], ['', '']]);
});

const DATASET: Dataset = { name: 'test-rows', version: 3, columns: ['id', 'account_id', 'amount', 'note'], accountColumn: 'account_id', amountColumns: ['amount'] };
const ROWS = [
  { id: 'r1', account_id: 'acct_b', amount: '0.10', note: '=cmd()' },
  { id: 'r2', account_id: 'acct_a', amount: '1.000000001', note: 'line\nbreak, and "quotes"' },
  { id: 'r3', account_id: 'acct_b', amount: '-0.05', note: null },
  { id: 'r4', account_id: null, amount: '0.00', note: 'no account' },
];
async function* rows() {
  yield* ROWS;
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'surety-export-'));
  dirs.push(d);
  return join(d, 'out');
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('a directory export: its manifest counts, sums per account and hashes what is on disk', async () => {
  const dir = tmp();
  const m = await writeExportDir(dir, 'rows', DATASET, ['csv', 'ndjson'], rows(), { from: '2026-01-01T00:00:00.000Z' });
  assert.equal(m.format, 'surety-export');
  assert.equal(m.dataset, 'test-rows');
  assert.equal(m.dataset_version, 3);
  assert.deepEqual(m.filter, { from: '2026-01-01T00:00:00.000Z' });
  assert.equal(m.rows, 4);
  assert.deepEqual(m.totals, { amount: '1.050000001' });
  assert.deepEqual(m.accounts, [
    { account_id: 'acct_a', rows: 1, sums: { amount: '1.000000001' } },
    { account_id: 'acct_b', rows: 2, sums: { amount: '0.05' } },
    { account_id: null, rows: 1, sums: { amount: '0.00' } },
  ]);
  for (const f of m.files) {
    const bytes = readFileSync(join(dir, f.name));
    assert.equal(f.rows, 4);
    assert.equal(f.bytes, bytes.length);
    assert.equal(f.sha256, createHash('sha256').update(bytes).digest('hex'));
  }
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), m);
  const csv = readFileSync(join(dir, 'rows.csv'), 'utf8');
  assert.ok(csv.startsWith('id,account_id,amount,note\n'));
  assert.match(csv, /'=cmd\(\)/, 'the formula is defused in the file');
  const report = await verifyExportDir(dir);
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  // The manifest alone (an HTTP export's …/manifest) is the same one.
  const again = await exportManifest(DATASET, rows(), m.files, m.filter);
  assert.deepEqual({ ...again, generated_at: '' }, { ...m, generated_at: '' });
});

test('verify finds a changed byte, a dropped row, a moved amount and a damaged manifest', async () => {
  const make = async () => {
    const dir = tmp();
    await writeExportDir(dir, 'rows', DATASET, ['csv', 'ndjson'], rows(), {});
    return dir;
  };
  const checks = async (dir: string) => (await verifyExportDir(dir)).problems.map((p) => `${p.file}:${p.check}`).sort();

  let dir = await make();
  const csvPath = join(dir, 'rows.csv');
  writeFileSync(csvPath, readFileSync(csvPath, 'utf8').replace('0.10', '0.20'));
  assert.deepEqual(await checks(dir), ['rows.csv:accounts', 'rows.csv:sha256']);

  dir = await make();
  const ndPath = join(dir, 'rows.ndjson');
  writeFileSync(ndPath, readFileSync(ndPath, 'utf8').split('\n').filter((l) => !l.includes('"r3"')).join('\n'));
  assert.deepEqual(await checks(dir), ['rows.ndjson:accounts', 'rows.ndjson:bytes', 'rows.ndjson:rows', 'rows.ndjson:sha256']);

  dir = await make();
  appendFileSync(join(dir, 'rows.csv'), 'r5,acct_a,1.00,extra\n');
  assert.ok((await checks(dir)).includes('rows.csv:rows'));

  dir = await make();
  const mPath = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(mPath, 'utf8'));
  m.totals.amount = '9.99';
  writeFileSync(mPath, JSON.stringify(m));
  assert.deepEqual(await checks(dir), ['manifest.json:manifest']);

  dir = await make();
  rmSync(join(dir, 'rows.ndjson'));
  assert.deepEqual(await checks(dir), ['rows.ndjson:missing']);
  const none = await verifyExportDir(join(dir, 'nothing-here'));
  assert.equal(none.ok, false);
  assert.equal(none.problems[0]!.check, 'manifest');
});

test('a directory that holds an export is never written over', async () => {
  const dir = tmp();
  await writeExportDir(dir, 'rows', DATASET, ['csv'], rows(), {});
  await assert.rejects(writeExportDir(dir, 'rows', DATASET, ['csv'], rows(), {}), /EEXIST/);
});
