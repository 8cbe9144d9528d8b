// One write path for the ledger: no file in src/ but the journal writer writes journal
// transactions, entries or book balances (a second writer would skip its checks).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..', '..');

export function sourceFiles(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The files of src/ (relative paths) whose text matches `re`. */
export function writersOf(re: RegExp): string[] {
  return sourceFiles()
    .filter((f) => re.test(readFileSync(f, 'utf8')))
    .map((f) => relative(ROOT, f))
    .sort();
}

test('only the journal writer writes ledger_tx, ledger_entries and books', () => {
  const sql = /\b(INSERT INTO|UPDATE|DELETE FROM)\s+(ledger_tx|ledger_entries|books)\b/;
  const bulk = /insertMany\(\s*\w+\s*,\s*[\w.]+\s*,\s*'(ledger_tx|ledger_entries|books)'/;
  assert.deepEqual(writersOf(sql), ['src/billing/journal.ts']);
  assert.deepEqual(writersOf(bulk), ['src/billing/journal.ts']);
  assert.deepEqual(writersOf(/INSERT INTO ledger_entries|'ledger_entries'/), ['src/billing/journal.ts']);
});
