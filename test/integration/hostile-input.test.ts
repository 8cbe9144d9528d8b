// Hostile input at the edge: bodies and values that once crashed the process or poisoned billing
// for every tenant. Each answers a clear 4xx, and the gateway keeps serving and billing afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still alive?' }] };

describe('hostile input (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const chat = async () => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(CHAT),
    });
    await r.arrayBuffer();
    return r.status;
  };

  test('a truncated multipart body is a 400, without a key, and the process lives on', async () => {
    const body = '--XYZ\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nabc';
    for (const path of ['/v1/chat/completions', '/v1/images/edits']) {
      const r = await fetch(g.url + path, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=XYZ' }, body });
      assert.equal(r.status, 400, path);
      const j = (await r.json()) as any;
      assert.equal(j.error.code, 'VALIDATION', path);
    }
    assert.equal(await chat(), 200);
  });
});

describe('one bad row never poisons a batch (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const chat = async (content = 'hello') => {
    const r = await fetch(`${g.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });
    await r.arrayBuffer();
    return { status: r.status, id: r.headers.get('x-request-id')! };
  };

  test('a client that half-closes mid-body is logged, and every later request is served and billed', async () => {
    const { connect } = await import('node:net');
    const u = new URL(g.url);
    await new Promise<void>((resolve) => {
      const s = connect(Number(u.port), u.hostname, () => {
        s.end(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":`);
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    for (let i = 0; i < 4; i++) assert.equal((await chat()).status, 200);
    await g.settle();
    const writer = g.s.gateway.gateway.writer;
    assert.ok(writer.healthy);
    assert.equal(writer.stats.failures, 0, 'no flush failed');
    const rows = await g.logsOfKey(c.keyId);
    assert.equal(rows.filter((r: any) => r.outcome === 'ok').length, 4);
    assert.equal((await fetch(`${g.url}/readyz`)).status, 200);
    const report = await g.verify();
    assert.ok(report.ok, JSON.stringify(report.problems));
  });

  test('a row the database refuses lands in its bare form; the rest of its batch lands whole', async () => {
    // The database refuses one row for a reason of its own (here: a trigger).
    await g.s.rt.db.run('CREATE TABLE IF NOT EXISTS poison (id TEXT PRIMARY KEY)');
    await g.s.rt.db.run(
      "CREATE TRIGGER IF NOT EXISTS refuse_poison BEFORE INSERT ON request_log WHEN NEW.delivered IS NOT NULL AND NEW.id IN (SELECT id FROM poison) BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END",
    );
    const writer = g.s.gateway.gateway.writer;
    // Hold the writer back so that the five requests settle into one batch.
    const flush = writer.flush.bind(writer);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    (writer as any).flush = () => gate.then(flush);
    const ids: string[] = [];
    const pending = [1, 2, 3, 4, 5].map(async (i) => {
      const r = await chat(`batch ${i}`);
      ids.push(r.id);
      return r;
    });
    const done = await Promise.all(pending);
    assert.ok(done.every((r) => r.status === 200));
    await g.s.rt.db.run('INSERT INTO poison (id) VALUES (?)', [done[2]!.id]);
    (writer as any).flush = flush;
    release();
    await g.settle();
    for (const r of done) {
      const row = await g.log(r.id);
      assert.equal(row.outcome, 'ok');
      assert.ok(usd(row.amount) > 0n && row.tx_id, `${r.id} landed with its charge`);
      if (r.id === done[2]!.id) assert.match(row.error, /row stored bare/);
      else assert.equal(row.error, null);
    }
    assert.ok(writer.healthy);
    const report = await g.verify();
    assert.ok(report.ok, JSON.stringify(report.problems));
  });
});

for (const engine of engines()) {
  describe(`NUL bytes are refused at the edge (${engine})`, () => {
    let g: TestGateway;
    let c: Customer;
    before(async () => {
      g = await startTestGateway({ engine });
      c = await g.customer('5.00');
    });
    after(() => g?.close());

    test('in a model name on the data plane: 400, and billing goes on for everyone', async () => {
      const bodies = [
        { path: '/v1/chat/completions', body: '{"model":"gpt-4o-mini\\u0000evil","messages":[{"role":"user","content":"hi"}]}' },
        { path: '/v1/messages', body: '{"model":"claude-sonnet-5-5","max_tokens":5,"messages":[{"role":"user","content":"hi\\u0000"}]}' },
      ];
      for (const b of bodies) {
        const r = await fetch(g.url + b.path, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: b.body });
        assert.equal(r.status, 400, b.path);
        assert.match(await r.text(), /NUL/);
      }
      const gem = await fetch(`${g.url}/v1beta/models/gemini-2.5-flash%00x:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': c.key, 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
      });
      assert.equal(gem.status, 400);
      const ok = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after' }] }),
      });
      assert.equal(ok.status, 200);
      await g.settle();
      assert.ok(g.s.gateway.gateway.writer.healthy);
      assert.equal(g.s.gateway.gateway.writer.stats.failures, 0);
      const rows = await g.logsOfKey(c.keyId);
      assert.equal(rows.filter((r: any) => r.outcome === 'client_error').length, 3);
      assert.equal(rows.filter((r: any) => r.outcome === 'ok').length, 1);
    });

    test('in control-plane bodies, query strings and paths: 400 naming the field, nothing written', async () => {
      const before = (await g.admin('GET', '/admin/v1/accounts?limit=1000')).data.length;
      const r = await g.adminRaw('POST', '/admin/v1/accounts', { name: 'evil\u0000corp' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'VALIDATION');
      assert.equal(r.body.error.field, 'name');
      const nested = await g.adminRaw('POST', `/admin/v1/accounts/${c.accountId}/keys`, { name: 'k', models: ['gpt-4o-mini', 'x\u0000'] });
      assert.equal(nested.status, 400);
      assert.equal(nested.body.error.field, 'models[1]');
      assert.equal((await g.admin('GET', '/admin/v1/accounts?limit=1000')).data.length, before);
      const q = await g.adminRaw('GET', '/admin/v1/logs?model=a%00b');
      assert.equal(q.status, 400);
      assert.equal(q.body.error.field, 'query.model');
      const p = await g.adminRaw('GET', '/admin/v1/accounts/acct%00x');
      assert.equal(p.status, 400);
    });
  });
}

for (const engine of engines()) {
  describe(`amounts stay inside 64 bits (${engine})`, () => {
    let g: TestGateway;
    before(async () => {
      g = await startTestGateway({ engine, demo: false });
    });
    after(() => g?.close());

    const topup = (accountId: string, amount: string, key: string) =>
      g.adminRaw('POST', `/admin/v1/accounts/${accountId}/topups`, { amount, method: 'other', reference: 'big' }, { 'idempotency-key': key });

    test('an amount past the per-movement cap is a 400; a balance that would overflow is a 409; nothing moves', async () => {
      const a = await g.admin('POST', '/admin/v1/accounts', { name: 'whale' });
      for (const amount of ['9223372036.854775807', '9223372036.854775808', '9000000000', '1000000000.000000001']) {
        const r = await topup(a.id, amount, `k-${amount}`);
        assert.equal(r.status, 400, amount);
        assert.equal(r.body.error.code, 'VALIDATION');
        assert.equal(r.body.error.field, 'amount');
      }
      assert.equal((await topup(a.id, '1000000000', 'k1')).status, 201);
      assert.equal((await topup(a.id, '1000000000', 'k2')).status, 201);
      const third = await topup(a.id, '1000000000', 'k3');
      assert.equal(third.status, 409);
      assert.equal(third.body.error.code, 'BALANCE_OUT_OF_RANGE');
      const b = await g.balance(a.id);
      assert.equal(b.paid, '2000000000.00');
      const bonus = await g.adminRaw('POST', `/admin/v1/accounts/${a.id}/topups`, { amount: '1', bonus: '999999999', method: 'other', reference: 'x' }, { 'idempotency-key': 'k4' });
      assert.equal(bonus.status, 201, 'the granted bucket is a book of its own');
      const v = await g.adminRaw('GET', '/admin/v1/ledger/verify');
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal(v.body.ok, true);
    });

    test('credit lines and other amounts past the cap are 400s, not 500s', async () => {
      const r = await g.adminRaw('POST', '/admin/v1/accounts', { name: 'x', credit_line: '1000000000000' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.field, 'credit_line');
      const a = await g.admin('POST', '/admin/v1/accounts', { name: 'y' });
      const p = await g.adminRaw('PATCH', `/admin/v1/accounts/${a.id}`, { credit_line: '9223372036.854775807' });
      assert.equal(p.status, 400);
      const price = await g.adminRaw('PUT', '/admin/v1/models/m-big', { provider: 'openai', price: { input_per_mtok: '99999999999' } });
      assert.equal(price.status, 400);
    });
  });
}

describe('wrong-typed bodies are refused before any hold, in the caller\'s API shape (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
  });
  after(() => g?.close());

  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const r = await fetch(g.url + path, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'x-goog-api-key': c.key, 'content-type': 'application/json', ...headers }, body });
    return { status: r.status, body: (await r.json()) as any };
  };
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

  test('the fuzz corpus: each is a 400 naming the field, nothing goes upstream, nothing is charged', async () => {
    const sim = g.s.sim!;
    const before = sim.requests().length;
    const cases: Array<[string, string, string, string]> = [
      ['/v1/chat/completions', '{"model":"gpt-4o-mini","messages":"hello"}', 'messages', 'openai'],
      ['/v1/chat/completions', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":1e308}', 'max_tokens', 'openai'],
      ['/v1/chat/completions', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_tokens":-5}', 'max_tokens', 'openai'],
      ['/v1/chat/completions', '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"stream":"yes"}', 'stream', 'openai'],
      ['/v1/chat/completions', `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${deep(100_000)}}]}`, 'messages', 'openai'],
      ['/v1/messages', '{"model":"claude-sonnet-5-5","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}', 'max_tokens', 'anthropic'],
      ['/v1beta/models/gemini-2.5-flash:generateContent', '{"contents":5}', 'contents', 'gemini'],
      ['/v1/embeddings', '{"model":"text-embedding-3-small","input":[["a",["b"]]]}', 'input', 'openai'],
      ['/v1/images/generations', '{"model":"gpt-image-1","prompt":"x","n":"3"}', 'n', 'openai'],
      ['/v1/images/generations', '{"model":"gpt-image-1","prompt":"x","n":1e20}', 'n', 'openai'],
    ];
    for (const [path, body, field, shape] of cases) {
      const r = await post(path, body, shape === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {});
      assert.equal(r.status, 400, `${path} ${body.slice(0, 80)}: ${JSON.stringify(r.body).slice(0, 200)}`);
      const text = JSON.stringify(r.body);
      assert.match(text, new RegExp(field), `names ${field}`);
      if (shape === 'anthropic') assert.equal(r.body.type, 'error');
      else if (shape === 'gemini') assert.equal(r.body.error.status, 'INVALID_ARGUMENT');
      else assert.equal(r.body.error.code, 'VALIDATION');
    }
    assert.equal(sim.requests().length, before, 'nothing was sent upstream');
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    assert.equal(rows.length, cases.length);
    assert.ok(rows.every((r: any) => r.outcome === 'client_error' && r.amount === '0.00' && r.hold === '0.00'));
  });

  test('multipart n is read like JSON n: "1.5" is a 400; 2 images asked and delivered are 2 billed', async () => {
    const form = (n: string) => {
      const fd = new FormData();
      fd.set('model', 'gpt-image-1');
      fd.set('prompt', 'two foxes');
      fd.set('n', n);
      fd.set('size', '1024x1024');
      fd.set('quality', 'low');
      fd.set('image', new Blob([Buffer.from('89504e47', 'hex')], { type: 'image/png' }), 'a.png');
      return fd;
    };
    const bad = await fetch(`${g.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${c.key}` }, body: form('1.5') });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.code, 'VALIDATION');
    const ok = await fetch(`${g.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${c.key}` }, body: form('2') });
    assert.equal(ok.status, 200);
    const j = (await ok.json()) as any;
    assert.equal(j.data.length, 2);
    assert.equal(ok.headers.get('x-surety-cost'), '0.022', '2 × $0.011');
  });
});

describe('edge answers in our own shape (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('1.00');
  });
  after(() => g?.close());

  test('a body shorter than its Content-Length: 400 in our error shape, on both planes', async () => {
    const { connect } = await import('node:net');
    const u = new URL(g.url);
    for (const path of ['/admin/v1/accounts', '/v1/chat/completions']) {
      const got = await new Promise<string>((resolve) => {
        let text = '';
        const s = connect(Number(u.port), u.hostname, () => s.end(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`));
        s.on('data', (d) => (text += d.toString()));
        s.on('close', () => resolve(text));
        s.on('error', () => resolve(text));
      });
      assert.match(got, /^HTTP\/1\.1 400/, path);
      const body = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4));
      assert.equal(body.error.code, 'VALIDATION', path);
      assert.equal(typeof body.error.message, 'string');
    }
  });

  test('text/plain on a JSON route is 415', async () => {
    const r = await g.adminRaw('POST', '/admin/v1/accounts', undefined, { 'content-type': 'text/plain' });
    const r2 = await fetch(`${g.url}/admin/v1/accounts`, { method: 'POST', headers: { authorization: 'Bearer sa-test-operator-key-0123456789abcdef', 'content-type': 'text/plain' }, body: 'name=x' });
    assert.equal(r2.status, 415);
    assert.equal(((await r2.json()) as any).error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.notEqual(r.status, 500);
    const dp = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(dp.status, 415);
  });

  test('a revoked key with malformed JSON learns that its key is revoked (401), not that its body is bad', async () => {
    await g.admin('DELETE', `/admin/v1/accounts/${c.accountId}/keys/${c.keyId}`);
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as any).error.code, 'KEY_REVOKED');
    const noKey = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(noKey.status, 400, 'without a key, the body is what is wrong');
  });
});
