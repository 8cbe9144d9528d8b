// Request-log rows made up for tests and benchmarks, written through the storage port with the one
// row declaration (normaliseRow + storageValues), as the writer writes them — but without charges:
// rows here carry amounts and no journal transaction (tx_id null), so use them where the ledger is
// not the point (exports, scope previews, the benchmark), never with `ledger verify`. Like the
// writer, each insert adds its rows to the traffic rollups (the status page and the incident
// detector read those); request rollups (SLA) are not kept: tests rebuild them (rebuildRollups).
import { insertMany } from '../../src/storage/batch.ts';
import type { Db } from '../../src/storage/port.ts';
import { newId } from '../../src/kernel/ids.ts';
import { addTraffic } from '../../src/requests/traffic.ts';
import { STORAGE_COLUMNS, normaliseRow, storageValues, type RequestRow } from '../../src/requests/schema.ts';

export function fakeRow(over: Partial<RequestRow> = {}): RequestRow {
  const started = over.started_at ?? Date.UTC(2026, 0, 15, 12);
  const r: RequestRow = {
    id: newId('req', started),
    account_id: 'acct_test',
    key_id: 'key_test',
    member_id: null,
    endpoint: 'chat',
    provider: 'openai',
    model: 'gpt-4o-mini',
    upstream_model: 'gpt-4o-mini',
    channel_id: 'ch_test',
    attempts: [{ channel: 'ch_test', status: 200, outcome: 'ok', ms: 120 }],
    started_at: started,
    first_byte_at: started + 100,
    ended_at: started + 120,
    duration_ms: 120,
    stream: false,
    status: 200,
    outcome: 'ok',
    error_code: null,
    error: null,
    usage_raw: { prompt_tokens: 12, completion_tokens: 16, total_tokens: 28 },
    usage_billable: { input_tokens: 12, output_tokens: 16 },
    usage_estimated: false,
    price_version: 1,
    hold_amount: 20_000n,
    amount: 11_400n,
    tx_id: null,
    delivered: { images: 0, text_chars: 80, text_bytes: 80 },
    client_ip: '127.0.0.1',
    upstream_provider: 'openai',
    ...over,
  };
  normaliseRow(r);
  return r;
}

/** Inserts rows in transactions of `chunk` rows. */
export async function insertRows(db: Db, rows: readonly RequestRow[], chunk = 5000): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk).map(storageValues);
    await db.tx(async (q) => {
      await insertMany(q, db.engine, 'request_log', STORAGE_COLUMNS, part);
      await addTraffic(q, rows.slice(i, i + chunk));
    });
  }
}
