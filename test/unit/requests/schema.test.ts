// The one request-row declaration: rows are made storable before they are queued, and the views
// show operators everything and customers no upstream detail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COUNT_COLUMNS, REQUEST_LOG_DATASETS, REQUEST_LOG_EXPORT_VERSION, STORAGE_COLUMNS, exportColumns, normaliseRow, publicMessage, requestView, storageValues, type RequestRow } from '../../../src/requests/schema.ts';

function row(over: Partial<RequestRow> = {}): RequestRow {
  return {
    id: 'req_1', account_id: 'acct_1', key_id: 'key_1', member_id: null, endpoint: 'chat', provider: 'openai', model: 'gpt-4o-mini', upstream_model: 'gpt-4o-mini-2024',
    channel_id: 'ch_secret', attempts: [{ channel: 'ch_secret', status: 500, outcome: 'upstream_error', ms: 3, error: 'Upstream sim-secret: key sk-… failed' }],
    started_at: 1_700_000_000_000, first_byte_at: null, ended_at: 1_700_000_000_100, duration_ms: 100, stream: false, status: 200, outcome: 'ok', error_code: null,
    error: null, usage_raw: { prompt_tokens: 1 }, usage_billable: null, usage_estimated: false, price_version: 1, hold_amount: 10n, amount: 5n, tx_id: null,
    delivered: { images: 0 }, client_ip: '127.0.0.1', upstream_provider: 'openai', ...over,
  };
}

test('normaliseRow repairs what storage would refuse and names it', () => {
  const r = row({ client_ip: undefined as unknown as string, model: 'a\u0000b', duration_ms: Number.NaN, outcome: 'bogus' as never });
  const problems = normaliseRow(r);
  assert.equal(r.client_ip, null);
  assert.equal(r.model, 'a\uFFFDb');
  assert.equal(r.duration_ms, 0);
  assert.equal(r.outcome, 'platform_error');
  assert.equal(problems.length, 3, problems.join('; '));
  assert.deepEqual(normaliseRow(row()), [], 'a good row is untouched');
  const values = storageValues(row());
  assert.equal(values.length, STORAGE_COLUMNS.length);
  assert.equal(values[STORAGE_COLUMNS.indexOf('attempts')], JSON.stringify(row().attempts));
  assert.equal(values[STORAGE_COLUMNS.indexOf('stream')], 0);
});

test('the integer copies of the counts: the JSON value when it is a safe integer, 0 when absent, else NULL (readers use the JSON)', () => {
  const stored = (over: Partial<RequestRow>) => {
    const v = storageValues(row(over));
    return Object.fromEntries(Object.keys(COUNT_COLUMNS).map((c) => [c, v[STORAGE_COLUMNS.indexOf(c)]]));
  };
  const s = stored({ usage_billable: { input_tokens: 12, cached_input_tokens: 3, output_tokens: 1.5, images: -1, image_output_tokens: '7' }, delivered: { images: 2, text_chars: 40, usage_regressed: true } });
  assert.deepEqual(s, { input_tokens: 12, cached_input_tokens: 3, cache_write_tokens: 0, output_tokens: null, image_input_tokens: 0, image_output_tokens: null, images: -1, delivered_images: 2, delivered_text_chars: 40, usage_regressed: 1 });
  const none = stored({ usage_billable: null, delivered: null });
  assert.ok(Object.values(none).every((v) => v === null), 'no JSON, no copies');
  assert.equal(stored({ delivered: { images: 0, usage_regressed: false } }).usage_regressed, 0);
  assert.equal(STORAGE_COLUMNS.length, Object.keys(requestView({}, 'operator')).length + Object.keys(COUNT_COLUMNS).length, 'the copies are stored, never shown');
  for (const c of Object.keys(COUNT_COLUMNS)) assert.equal(exportColumns('operator').includes(c), false, `${c} is not exported`);
});

test('customers see no channel, upstream model or upstream error text; operators see all', () => {
  const stored: Record<string, unknown> = Object.fromEntries(STORAGE_COLUMNS.map((c, i) => [c, storageValues(row({ outcome: 'upstream_error', error_code: 'UPSTREAM_ERROR', error: 'sim-secret: answered 500 with key sk-…' }))[i]]));
  const op = requestView(stored, 'operator');
  assert.equal(op.channel_id, 'ch_secret');
  assert.match(String(op.error), /sim-secret/);
  assert.equal((op.attempts as any[])[0].channel, 'ch_secret');
  assert.equal(op.amount, '0.000000005');
  assert.equal(op.hold, '0.00000001', 'hold_amount is shown as hold');
  const cu = requestView(stored, 'customer');
  assert.equal('channel_id' in cu, false);
  assert.equal('upstream_model' in cu, false);
  assert.doesNotMatch(JSON.stringify(cu), /secret|sk-/);
  assert.equal(cu.error, 'The upstream provider failed.');
  assert.deepEqual(Object.keys((cu.attempts as any[])[0]).sort(), ['ms', 'outcome', 'status']);
  assert.equal(exportColumns('customer').includes('channel_id'), false);
  assert.equal(exportColumns('operator').includes('channel_id'), true);
  assert.equal(publicMessage({ outcome: 'platform_error', error_code: null }), "Surety's own fault (a bug, storage down, a misconfigured channel); never billed.");
});

test('the request-log exports are fixed and versioned: version 2 has exactly these columns', () => {
  // Changing REQUEST_COLUMNS changes these lists: then bump REQUEST_LOG_EXPORT_VERSION, pin the
  // new version here and document it in docs/export.md — never change a released version's columns.
  assert.equal(REQUEST_LOG_EXPORT_VERSION, 2);
  const operator = ['id', 'account_id', 'key_id', 'member_id', 'endpoint', 'provider', 'model', 'upstream_model', 'channel_id', 'started_at', 'first_byte_at', 'ended_at', 'duration_ms', 'stream', 'status', 'outcome', 'error_code', 'usage_estimated', 'price_version', 'hold', 'amount', 'tx_id', 'client_ip', 'upstream_provider', 'attempts', 'error', 'usage_raw', 'usage_billable', 'delivered'];
  assert.deepEqual(REQUEST_LOG_DATASETS.operator.columns, operator);
  assert.deepEqual(REQUEST_LOG_DATASETS.customer.columns, operator.filter((c) => c !== 'upstream_model' && c !== 'channel_id'));
  assert.deepEqual([REQUEST_LOG_DATASETS.operator.name, REQUEST_LOG_DATASETS.customer.name], ['request-log', 'request-log.customer']);
  for (const d of Object.values(REQUEST_LOG_DATASETS)) {
    assert.equal(d.accountColumn, 'account_id');
    assert.deepEqual(d.amountColumns, ['amount']);
  }
});
