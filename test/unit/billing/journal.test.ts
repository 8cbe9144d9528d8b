// One write path for the ledger: no file in src/ but the journal writer writes journal
// transactions, entries or book balances (a second writer would skip its checks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filesMatching } from '../../helpers/source.ts';

test('only the journal writer writes ledger_tx, ledger_entries and books', () => {
  const sql = /\b(INSERT INTO|UPDATE|DELETE FROM)\s+(ledger_tx|ledger_entries|books)\b/;
  const bulk = /insertMany\(\s*\w+\s*,\s*[\w.]+\s*,\s*'(ledger_tx|ledger_entries|books)'/;
  assert.deepEqual(filesMatching(sql), ['src/billing/journal.ts']);
  assert.deepEqual(filesMatching(bulk), ['src/billing/journal.ts']);
  assert.deepEqual(filesMatching(/INSERT INTO ledger_entries|'ledger_entries'/), ['src/billing/journal.ts']);
});
