// The one export writer: CSV cells are escaped (RFC 4180) and a text a spreadsheet would run as a
// formula is neutralised (CSV injection), while numbers stay numbers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvCell, exportHeader, exportLine } from '../../../src/kernel/export.ts';

test('formula-looking texts get a leading apostrophe; numbers, also negative, do not', () => {
  for (const s of ['=HYPERLINK("http://evil","x")', '+1+cmd', '-2+3', '@SUM(A1)', '\tx', '\rx']) assert.ok(csvCell(s).replace(/^"/, '').startsWith("'"), s);
  assert.equal(csvCell('=1+1'), "'=1+1");
  assert.equal(csvCell('-5.25'), '-5.25');
  assert.equal(csvCell('12'), '12');
  assert.equal(csvCell(-3), '-3');
  assert.equal(csvCell('gpt-4o-mini'), 'gpt-4o-mini');
});

test('quotes, commas and line breaks are quoted; objects are JSON; null is empty', () => {
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
  assert.equal(csvCell(null), '');
  assert.equal(csvCell(false), 'false');
});

test('a line per row in CSV and NDJSON', () => {
  assert.equal(exportHeader('csv', ['a', 'b']), 'a,b\n');
  assert.equal(exportHeader('ndjson', ['a', 'b']), '');
  assert.equal(exportLine('csv', ['a', 'b'], { a: '=x', b: 2, c: 'not a column' }), "'=x,2\n");
  assert.equal(exportLine('ndjson', ['a'], { a: '=x', b: 2 }), '{"a":"=x","b":2}\n');
});
