// The request log through its API after a mix of real requests: one row per request with every
// field, filters, paging, CSV and NDJSON exports (parsed back), customers confined to their own
// rows, redaction of upstream error text, and the Prometheus metrics agreeing with the log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, tokenCost, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyExportDir } from '../../src/kernel/export-verify.ts';

const LEAKED = 'sk-live-0123456789abcdefXYZ';

interface Sent {
  id: string;
  status: number;
  text: string;
  who: string;
  model: string;
  outcome: string;
}

/** Minimal RFC 4180 reader: quoted fields may hold commas, quotes ("") and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(cell), (cell = '');
    else if (ch === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else if (ch !== '\r') cell += ch;
  }
  if (cell !== '' || row.length > 0) row.push(cell), rows.push(row);
  return rows;
}

/** Prometheus text format → samples. */
function parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `metric line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

for (const engine of engines()) {
  describe(`request logs API and metrics (${engine})`, () => {
    let g: TestGateway;
    let a1: Customer;
    let a2: Customer;
    let b: Customer;
    let tMid: number;
    let phase1 = 0;
    const sent: Sent[] = [];
    let streamed: { id: string; body: string; usage: any };
    let channels: Map<string, string>;

    const chat = async (c: Customer | null, who: string, content: string, opts: { model?: string; stream?: boolean; key?: string; outcome?: string } = {}) => {
      const model = opts.model ?? 'gpt-4o-mini';
      const r = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.key ?? c!.key}` },
        body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...(opts.stream ? { stream: true } : {}) }),
      });
      const text = await r.text();
      const s = { id: r.headers.get('x-request-id')!, status: r.status, text, who, model, outcome: opts.outcome ?? 'ok' };
      assert.match(s.id, /^req_/);
      sent.push(s);
      return s;
    };
    const logs = async (query: string, key?: string) => {
      const r = await fetch(`${g.url}${key ? '/account' : '/admin'}/v1/logs${query}`, { headers: { authorization: `Bearer ${key ?? 'sa-test-operator-key-0123456789abcdef'}` } });
      const text = await r.text();
      return { status: r.status, headers: r.headers, text, body: r.headers.get('content-type')?.includes('json') && !r.headers.get('content-type')?.includes('ndjson') ? JSON.parse(text) : null };
    };
    const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();
    const sentIds = (pred: (s: Sent) => boolean) => sent.filter(pred).map((s) => s.id).sort();

    before(async () => {
      g = await startTestGateway({ engine });
      a1 = await g.customer('5.00');
      a2 = { ...a1, ...(await g.admin('POST', `/admin/v1/accounts/${a1.accountId}/keys`, { name: 'second key' }).then((k) => ({ keyId: k.id, key: k.key }))) };
      b = await g.customer('5.00');
      channels = new Map((await g.admin('GET', '/admin/v1/channels')).data.map((c: { name: string; id: string }) => [c.name, c.id]));
      // A channel whose URL carries a key-like string: the upstream's 404 echoes the path.
      await g.admin('PUT', '/admin/v1/models/leaky-model', { provider: 'openai', kind: 'chat', price: { input_per_mtok: '1', output_per_mtok: '1' } });
      const leaky = await g.admin('POST', '/admin/v1/channels', { name: 'leaky', provider: 'openai', base_url: `${g.s.sim!.url}/${LEAKED}`, keys: ['upstream-secret-never-shown'], models: ['leaky-model'] });
      channels.set('leaky', leaky.id);

      // Phase 1.
      await chat(a1, 'a1', 'first question');
      const sr = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a1.key}` },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream, please [[sim:tokens=5]]' }], stream: true, stream_options: { include_usage: true } }),
      });
      const body = await sr.text();
      const frames = body.split('\n\n').filter((f) => f.startsWith('data: ') && !f.includes('[DONE]')).map((f) => JSON.parse(f.slice(6)));
      streamed = { id: sr.headers.get('x-request-id')!, body, usage: frames.at(-1).usage };
      sent.push({ id: streamed.id, status: sr.status, text: body, who: 'a1', model: 'gpt-4o-mini', outcome: 'ok' });
      const er = await fetch(`${g.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${a1.key}` }, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'vectors' }) });
      assert.equal(er.status, 200);
      sent.push({ id: er.headers.get('x-request-id')!, status: 200, text: await er.text(), who: 'a1', model: 'text-embedding-3-small', outcome: 'ok' });
      const mr = await fetch(`${g.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': a2.key, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi claude' }] }),
      });
      assert.equal(mr.status, 200);
      sent.push({ id: mr.headers.get('x-request-id')!, status: 200, text: await mr.text(), who: 'a2', model: 'claude-sonnet-5-5', outcome: 'ok' });
      await chat(b, 'b', 'b asks');
      const gr = await fetch(`${g.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${b.key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contents: [{ parts: [{ text: 'hi gemini' }] }] }) });
      assert.equal(gr.status, 200);
      sent.push({ id: gr.headers.get('x-request-id')!, status: 200, text: await gr.text(), who: 'b', model: 'gemini-2.5-flash', outcome: 'ok' });
      await chat(a1, 'a1', 'which model?', { model: 'no-such-model', outcome: 'client_error' });
      await chat(a1, 'a1', 'fail upstream [[sim:error=500]]', { outcome: 'upstream_error' });
      await chat(null, 'nobody', 'who am i', { key: 'sk-sur-unknown', outcome: 'auth_error' });
      await g.settle();
      await new Promise((r) => setTimeout(r, 5));
      tMid = Date.now();
      phase1 = sent.length;
      await new Promise((r) => setTimeout(r, 5));
      // Phase 2.
      await chat(a1, 'a1', 'later question');
      await chat(b, 'b', 'b later');
      for (let i = 0; i < 5; i++) await chat(a2, 'a2', `leak ${i}`, { model: 'leaky-model', outcome: 'platform_error' });
      await g.settle();
    });
    after(async () => {
      await g?.close();
    });

    test('one row per request, ids equal to x-request-id, outcomes as observed', async () => {
      const all = (await logs('?limit=1000')).body.data;
      assert.equal(all.length, sent.length);
      assert.deepEqual(ids(all), sentIds(() => true));
      for (const s of sent) {
        const r = all.find((x: { id: string }) => x.id === s.id);
        assert.equal(r.outcome, s.outcome, `${s.id}: ${JSON.stringify(r)}`);
        assert.equal(r.status, s.status);
        assert.equal(r.model, s.model);
        assert.equal(usd(r.amount) > 0n, s.outcome === 'ok', `billed iff ok: ${r.outcome} ${r.amount}`);
      }
      assert.equal(await g.rowCount(), sent.length);
    });

    test('a streamed row has every field, consistent with what the client received', async () => {
      const r = await g.log(streamed.id);
      const models = (await g.admin('GET', '/admin/v1/models')).data;
      assert.equal(r.id, streamed.id);
      assert.equal(r.account_id, a1.accountId);
      assert.equal(r.key_id, a1.keyId);
      assert.equal(r.member_id, null);
      assert.equal(r.endpoint, 'chat');
      assert.equal(r.provider, 'openai');
      assert.equal(r.model, 'gpt-4o-mini');
      assert.equal(r.upstream_model, 'gpt-4o-mini');
      assert.equal(r.channel_id, channels.get('sim-openai'), 'the priority channel served it');
      assert.equal(r.attempts.length, 1);
      assert.deepEqual({ ...r.attempts[0], ms: 0 }, { channel: channels.get('sim-openai'), status: 200, outcome: 'ok', ms: 0 });
      assert.ok(r.attempts[0].ms > 0 && r.attempts[0].ms <= r.duration_ms + 1, `the attempt took ${r.attempts[0].ms} ms of the request's ${r.duration_ms}`);
      const [start, first, end] = [Date.parse(r.started_at), Date.parse(r.first_byte_at), Date.parse(r.ended_at)];
      assert.ok(start <= first && first <= end, `${r.started_at} ≤ ${r.first_byte_at} ≤ ${r.ended_at}`);
      assert.ok(Math.abs(end - start - r.duration_ms) <= 5, `duration ${r.duration_ms} vs ${end - start}`);
      assert.equal(r.stream, true);
      assert.equal(r.status, 200);
      assert.equal(r.outcome, 'ok');
      assert.equal(r.error, null);
      assert.equal(r.error_code, null);
      assert.deepEqual(r.usage_raw, streamed.usage, 'raw usage verbatim, from the final chunk');
      assert.equal(r.usage_billable.input_tokens, streamed.usage.prompt_tokens);
      assert.equal(r.usage_billable.output_tokens, 5);
      assert.equal(r.usage_estimated, false);
      assert.equal(r.price_version, models.find((m: { id: string }) => m.id === 'gpt-4o-mini').price_version);
      assert.equal(usd(r.amount), tokenCost(streamed.usage.prompt_tokens, '0.15') + tokenCost(5, '0.60'));
      assert.ok(usd(r.hold) >= usd(r.amount));
      assert.equal(r.delivered.bytes, Buffer.byteLength(streamed.body), 'bytes delivered = bytes the client got');
      assert.ok(r.delivered.chunks >= 1);
      assert.equal(r.client_ip, '127.0.0.1');
      const ledger = await g.ledger(a1.accountId);
      const tx = ledger.find((e: { tx_id: string }) => e.tx_id === r.tx_id);
      assert.ok(tx, 'the charge is in the ledger');
      assert.equal(tx.kind, 'usage');
      assert.equal(tx.ref_type, 'requests');
      // The usage transaction covers the requests of one group-commit batch: this one among them.
      const all = await g.admin('GET', `/admin/v1/logs?account_id=${a1.accountId}&limit=1000`);
      const covered = all.data.filter((x: { tx_id: string | null }) => x.tx_id === r.tx_id);
      assert.ok(covered.some((x: { id: string }) => x.id === r.id));
      if (covered.length === 1) assert.equal(tx.ref_id, r.id);
      assert.equal(usd(tx.amount), -covered.reduce((s: bigint, x: { amount: string }) => s + usd(x.amount), 0n));
    });

    test('failover attempts and an upstream error: each attempt with channel, status, outcome and timing; not billed', async () => {
      const s = sent.find((x) => x.outcome === 'upstream_error')!;
      const r = await g.log(s.id);
      assert.equal(r.status, 502);
      assert.equal(r.amount, '0.00');
      assert.deepEqual(
        r.attempts.map((a: { channel: string; status: number; outcome: string }) => [a.channel, a.status, a.outcome]),
        [
          [channels.get('sim-openai'), 500, 'upstream_error'],
          [channels.get('sim-openai-backup'), 500, 'upstream_error'],
        ],
      );
      const tried = r.attempts.reduce((t: number, a: { ms: number }) => t + a.ms, 0);
      assert.ok(r.attempts.every((a: { ms: number }) => a.ms > 0) && tried <= r.duration_ms + 1, `attempts took ${tried} ms of the request's ${r.duration_ms}`);
      assert.equal(r.channel_id, channels.get('sim-openai-backup'), 'the last channel tried');
      assert.ok(r.error.length > 0);
    });

    test('upstream error text is redacted: a key-like string never reaches the log', async () => {
      const leaks = sent.filter((s) => s.model === 'leaky-model');
      for (const s of leaks) assert.ok(!s.text.includes(LEAKED), 'nor the client');
      const r = await g.log(leaks[0]!.id);
      assert.equal(r.outcome, 'platform_error', 'our channel is misconfigured: our fault');
      assert.equal(r.attempts[0].status, 404);
      assert.match(r.attempts[0].error, /Invalid URL \(POST \/\[redacted\]\/v1\/chat\/completions\)/);
      const everything = (await logs('?format=ndjson')).text + (await logs('?format=csv')).text;
      assert.ok(!everything.includes(LEAKED), 'no export holds the key-like string');
      assert.ok(!everything.includes('upstream-secret-never-shown') && !everything.includes(a1.key) && !everything.includes(b.key));
    });

    test('filters: account_id, key_id, model, outcome, from/to', async () => {
      const q = async (query: string) => ids((await logs(`${query}&limit=1000`)).body.data);
      assert.deepEqual(await q(`?account_id=${a1.accountId}`), sentIds((s) => s.who === 'a1' || s.who === 'a2'));
      assert.deepEqual(await q(`?account_id=${b.accountId}`), sentIds((s) => s.who === 'b'));
      assert.deepEqual(await q(`?key_id=${a2.keyId}`), sentIds((s) => s.who === 'a2'));
      assert.deepEqual(await q('?model=gpt-4o-mini'), sentIds((s) => s.model === 'gpt-4o-mini'));
      assert.deepEqual(await q('?outcome=ok'), sentIds((s) => s.outcome === 'ok'));
      assert.deepEqual(await q('?outcome=auth_error'), sentIds((s) => s.outcome === 'auth_error'));
      assert.deepEqual(await q(`?account_id=${a1.accountId}&outcome=ok&model=gpt-4o-mini`), sentIds((s) => s.who === 'a1' && s.outcome === 'ok' && s.model === 'gpt-4o-mini'));
      const phase2 = sent.slice(phase1);
      const mid = new Date(tMid).toISOString();
      assert.deepEqual(await q(`?from=${mid}`), phase2.map((s) => s.id).sort());
      assert.deepEqual(await q(`?to=${mid}`), sentIds((s) => !phase2.includes(s)));
      assert.deepEqual(await q(`?from=${mid}&to=${mid}`), []);
      const bad = await logs('?outcome=maybe');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'VALIDATION');
      assert.match(bad.body.error.message, /outcome/);
      assert.equal((await logs('?from=yesterday')).status, 400);
    });

    test('paging with before: newest first, no row twice, none missed', async () => {
      const seen: string[] = [];
      let before = '';
      let pages = 0;
      for (;;) {
        const page = (await logs(`?limit=4${before ? `&before=${before}` : ''}`)).body;
        pages++;
        assert.ok(page.data.length <= 4);
        seen.push(...page.data.map((r: { id: string }) => r.id));
        if (!page.next_before) break;
        assert.equal(page.next_before, page.data.at(-1).id);
        before = page.next_before;
      }
      assert.equal(pages, Math.ceil(sent.length / 4) + (sent.length % 4 === 0 ? 1 : 0));
      assert.deepEqual(seen, [...seen].sort().reverse(), 'newest first');
      assert.deepEqual([...seen].sort(), sentIds(() => true));
    });

    test('CSV export: a header and one parsable line per row, amounts as decimal strings', async () => {
      const r = await logs('?format=csv');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type')!, /^text\/csv/);
      assert.match(r.headers.get('content-disposition')!, /attachment; filename="surety-logs\.csv"/);
      const rows = parseCsv(r.text);
      const header = rows[0]!;
      for (const col of ['id', 'account_id', 'key_id', 'endpoint', 'model', 'upstream_model', 'channel_id', 'attempts', 'started_at', 'ended_at', 'duration_ms', 'stream', 'status', 'outcome', 'usage_raw', 'usage_billable', 'price_version', 'amount', 'delivered', 'client_ip', 'error']) {
        assert.ok(header.includes(col), `column ${col}`);
      }
      assert.equal(rows.length - 1, sent.length);
      const json = new Map((await logs('?limit=1000')).body.data.map((x: { id: string }) => [x.id, x]));
      const col = (name: string) => header.indexOf(name);
      for (const line of rows.slice(1)) {
        assert.equal(line.length, header.length, `cells of ${line[0]}`);
        const j = json.get(line[col('id')]!) as Record<string, any>;
        assert.ok(j, `row ${line[col('id')]} exists`);
        assert.match(line[col('amount')]!, /^\d+\.\d{2,9}$/);
        assert.equal(line[col('amount')], j.amount);
        assert.equal(line[col('outcome')], j.outcome);
        assert.equal(line[col('account_id')], j.account_id ?? '');
        assert.deepEqual(JSON.parse(line[col('attempts')]!), j.attempts, 'JSON cells survive CSV quoting');
        if (j.usage_raw) assert.deepEqual(JSON.parse(line[col('usage_raw')]!), j.usage_raw);
      }
      // Filters apply to exports too.
      const onlyB = parseCsv((await logs(`?format=csv&account_id=${b.accountId}`)).text);
      assert.equal(onlyB.length - 1, sent.filter((s) => s.who === 'b').length);
    });

    test('NDJSON export: streamed, one JSON object per row', async () => {
      const res = await fetch(`${g.url}/admin/v1/logs?format=ndjson`, { headers: { authorization: 'Bearer sa-test-operator-key-0123456789abcdef' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
      assert.equal(res.headers.get('content-length'), null, 'streamed, not buffered');
      const text = await res.text();
      assert.ok(text.endsWith('\n'));
      const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, sent.length);
      const columns = (await logs('/manifest?format=ndjson')).body.columns;
      assert.ok(lines.every((l) => Object.keys(l).join() === columns.join()), 'every object holds exactly the columns, in order');
      assert.deepEqual(ids(lines), sentIds(() => true));
      const okCount = (await logs('?format=ndjson&outcome=ok')).text.trimEnd().split('\n').length;
      assert.equal(okCount, sent.filter((s) => s.outcome === 'ok').length);
    });

    test('manifests: the exports downloaded with their manifest verify; customers get their own slice only', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'surety-logs-export-'));
      try {
        const q = `from=2020-01-01T00:00:00Z&account_id=${a1.accountId}`;
        for (const format of ['csv', 'ndjson']) {
          const r = await logs(`?format=${format}&${q}`);
          assert.equal(r.headers.get('x-surety-export'), 'request-log/2; format=1');
          writeFileSync(join(dir, `surety-logs.${format}`), r.text);
        }
        const m = await logs(`/manifest?${q}`);
        assert.equal(m.status, 200);
        assert.equal(m.body.dataset, 'request-log');
        assert.deepEqual(m.body.filter, { account_id: a1.accountId, from: '2020-01-01T00:00:00.000Z' });
        const mine = sent.filter((s) => s.who === 'a1' || s.who === 'a2');
        assert.equal(m.body.rows, mine.length);
        assert.deepEqual(m.body.accounts.map((a: { account_id: string }) => a.account_id), [a1.accountId]);
        const charged = (await logs(`?account_id=${a1.accountId}&limit=1000`)).body.data.reduce((s: bigint, r: { amount: string }) => s + usd(r.amount), 0n);
        assert.equal(usd(m.body.totals.amount), charged);
        assert.ok(charged > 0n);
        writeFileSync(join(dir, 'manifest.json'), m.text);
        const report = await verifyExportDir(dir);
        assert.deepEqual(report.problems, []);
        // A manifest of another filter does not describe these files.
        writeFileSync(join(dir, 'manifest.json'), (await logs('/manifest?format=csv')).text);
        assert.equal((await verifyExportDir(dir)).ok, false);

        const theirs = await logs('/manifest', b.key);
        assert.equal(theirs.body.dataset, 'request-log.customer');
        assert.deepEqual(theirs.body.accounts.map((a: { account_id: string }) => a.account_id), [b.accountId]);
        assert.ok(!theirs.body.columns.includes('channel_id'));
        assert.equal((await logs(`/manifest?account_id=${a1.accountId}`, b.key)).status, 404);
        assert.equal((await logs('/manifest?format=json')).status, 400);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('/account/v1/logs: only the caller\'s account, whatever it asks for', async () => {
      const mine = await logs('?limit=1000', a2.key);
      assert.equal(mine.status, 200);
      assert.deepEqual(ids(mine.body.data), sentIds((s) => s.who === 'a1' || s.who === 'a2'), 'both keys of the account');
      assert.ok(mine.body.data.every((r: { account_id: string }) => r.account_id === a1.accountId));
      const theirs = await logs(`?account_id=${b.accountId}`, a1.key);
      assert.equal(theirs.status, 404);
      assert.ok(!theirs.text.includes(b.keyId));
      assert.deepEqual(ids((await logs(`?key_id=${b.keyId}`, a1.key)).body.data), [], 'another account\'s key id finds nothing');
      const bOwn = await logs(`?account_id=${b.accountId}&limit=1000`, b.key);
      assert.deepEqual(ids(bOwn.body.data), sentIds((s) => s.who === 'b'));
      const csv = parseCsv((await logs('?format=csv', b.key)).text);
      assert.equal(csv.length - 1, sent.filter((s) => s.who === 'b').length);
      assert.ok(csv.slice(1).every((l) => l.includes(b.accountId)));
      const nd = (await logs('?format=ndjson', b.key)).text.trimEnd().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(ids(nd), sentIds((s) => s.who === 'b'));
      const single = await fetch(`${g.url}/admin/v1/logs/${sent[0]!.id}`, { headers: { authorization: `Bearer ${b.key}` } });
      assert.equal(single.status, 403, 'the operator route does not take customer keys');
    });

    test('/metrics: requests by model and outcome, latency histograms, amount charged, in flight, channel health', async () => {
      // One request held in flight while the metrics are read.
      const slow = chat(b, 'b', 'hold on [[sim:latency=400]]');
      const until = Date.now() + 2000;
      while (g.s.gateway.gateway.requestsInFlight < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      const during = parseMetrics(await (await fetch(`${g.url}/metrics`)).text());
      assert.equal(during.find((m) => m.name === 'surety_in_flight_requests' && m.labels.endpoint === 'chat')?.value, 1);
      await slow;
      await g.settle();
      const res = await fetch(`${g.url}/metrics`);
      assert.match(res.headers.get('content-type')!, /^text\/plain/);
      const m = parseMetrics(await res.text());
      const sum = (name: string, pred: (l: Record<string, string>) => boolean) => m.filter((x) => x.name === name && pred(x.labels)).reduce((s, x) => s + x.value, 0);
      assert.equal(sum('surety_in_flight_requests', () => true), 0);

      const rows = (await logs('?limit=1000')).body.data as Array<{ model: string | null; outcome: string; amount: string; stream: boolean; endpoint: string }>;
      for (const [model, outcome] of [['gpt-4o-mini', 'ok'], ['gpt-4o-mini', 'upstream_error'], ['leaky-model', 'platform_error'], ['claude-sonnet-5-5', 'ok']]) {
        const n = rows.filter((r) => r.model === model && r.outcome === outcome).length;
        assert.ok(n > 0);
        assert.equal(sum('surety_requests_total', (l) => l.model === model! && l.outcome === outcome!), n, `${model} ${outcome}`);
        assert.equal(sum('surety_request_duration_seconds_count', (l) => l.model === model! && l.outcome === outcome!), n);
        assert.equal(sum('surety_request_duration_seconds_bucket', (l) => l.model === model! && l.outcome === outcome! && l.le === '+Inf'), n);
      }
      assert.equal(sum('surety_requests_total', () => true), rows.length);
      // Histogram buckets are cumulative.
      const buckets = m.filter((x) => x.name === 'surety_request_duration_seconds_bucket' && x.labels.model === 'gpt-4o-mini' && x.labels.outcome === 'ok').map((x) => x.value);
      assert.ok(buckets.length > 5 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!));
      assert.equal(sum('surety_gateway_overhead_seconds_count', (l) => l.endpoint === 'chat'), rows.filter((r) => r.endpoint === 'chat' && r.outcome === 'ok' && !r.stream).length);
      // The amount charged, in nano-USD, equals the log's sum per model.
      for (const model of ['gpt-4o-mini', 'claude-sonnet-5-5', 'gemini-2.5-flash', 'text-embedding-3-small']) {
        const logged = rows.filter((r) => r.model === model).reduce((s, r) => s + usd(r.amount), 0n);
        assert.ok(logged > 0n);
        assert.equal(sum('surety_charged_nano_usd_total', (l) => l.model === model), Number(logged), model);
      }
      // Five failures in a row opened the leaky channel's circuit; the healthy ones are up.
      const up = (name: string) => m.find((x) => x.name === 'surety_channel_up' && x.labels.channel === name)?.value;
      assert.equal(up('leaky'), 0);
      assert.equal(up('sim-openai'), 1);
      assert.equal(up('sim-anthropic'), 1);
      assert.equal(sum('surety_upstream_attempts_total', (l) => l.channel === 'leaky' && l.outcome === 'platform_error'), 5);
    });
  });
}
