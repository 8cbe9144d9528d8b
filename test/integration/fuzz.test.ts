// Hostile input, property-based (fast-check), over every public route of the route table and the
// data plane: random and wrong-typed JSON, truncated JSON, huge numbers and strings, unicode and NUL
// bytes, deep nesting, hostile path segments and query strings, invalid multipart, header
// injection attempts, malformed amounts. Each answer is a 4xx with a registered code — never a
// 5xx — and no balance moves. A failing case is shrunk and printed with its seed (replay with
// FC_SEED=<seed>). Runs are few per route so that the file stays quick; `npm run chaos` is the long run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ERRORS } from '../../src/kernel/errors.ts';
import { csvCell } from '../../src/kernel/export.ts';
import { startTestGateway, type Customer, type TestGateway, ADMIN_KEY } from '../helpers/gateway.ts';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const runs = (n: number) => ({ numRuns: n, ...(SEED !== undefined ? { seed: SEED } : {}) });

/** Strings a client may throw at us: unicode, NUL and control bytes, traversal, CRLF, formulas, very long. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '../../etc/passwd', '..%2f..%2fetc', '%00', '\r\nx-injected: 1', '=HYPERLINK("http://x")', '+1', '-1', '@SUM(A1)', '😀'.repeat(50), 'ＡＢＣ', '\uFEFF', '\uD800', 'x'.repeat(70_000)),
);
const hugeNumber = fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 1e-320, 9007199254740993, 2 ** 64, 0.1 + 0.2);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: hugeNumber },
);
/** A request body as sent: JSON of hostile values, or text nested deeper than any parser's stack. */
const hostileBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.dictionary(fc.oneof(hostileString, fc.constantFrom('name', 'amount', 'model', 'messages', 'role', 'limits', 'code', 'method', 'status', 'kind')), hostileValue, { maxKeys: 6 }), hostileValue).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 100_000 }).map((n) => `{"model":"gpt-4o-mini","messages":${'['.repeat(n)}${']'.repeat(n)}}`) },
);

/** Malformed amounts: negative, overflowing, over-precise, exponents, other numerals, wrong types. */
const badAmount = fc.oneof(
  fc.constantFrom('-1', '-0.01', '0', '0.0000000001', '1e3', '1E-2', '+5', '05', '1,000', '1 000', '１２', '0x10', 'NaN', 'Infinity', '', ' 1', '1.', '.5', '1000000000.000000001', '9223372036.854775808', '99999999999999999999'),
  fc.double().map((d) => d as unknown),
  fc.integer().map((n) => n as unknown),
  fc.constantFrom(null, true, [], {}, ['1.00']),
);

const codes = new Set(Object.keys(ERRORS));

describe('hostile input, property-based (sqlite)', () => {
  let g: TestGateway;
  let c: Customer;
  let before$: { admin: string; customer: string };
  before(async () => {
    g = await startTestGateway();
    c = await g.customer('5.00');
    before$ = { admin: JSON.stringify(await g.balance(c.accountId)), customer: c.accountId };
  });
  after(() => g?.close());

  const send = async (method: string, path: string, body: string | undefined, key: string, contentType = 'application/json', headers: Record<string, string> = {}) => {
    const r = await fetch(g.url + path, {
      method,
      headers: { authorization: `Bearer ${key}`, 'x-api-key': key, 'x-goog-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': contentType, 'idempotency-key': `fuzz-${Math.random()}`, ...headers },
      ...(body !== undefined && method !== 'GET' && method !== 'DELETE' ? { body } : {}),
    });
    const text = await r.text();
    return { status: r.status, text, headers: r.headers };
  };
  /** A 4xx (or a success) never a 5xx; every error carries a registered code. */
  const wellRefused = (r: { status: number; text: string }, what: string) => {
    assert.ok(r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      const j = JSON.parse(r.text) as any;
      // Our code, where each API shape keeps it: OpenAI and ours error.code, Gemini details[].reason.
      const code = typeof j.error?.code === 'string' ? j.error.code : j.error?.details?.[0]?.reason;
      assert.ok(typeof code === 'string' && codes.has(code), `${what}: a registered code in ${r.text.slice(0, 200)}`);
    }
  };
  const pathWith = (url: string, seg: string) => url.replace(/:([A-Za-z_]+)/g, (_m, p: string) => (p === 'id' && url.startsWith('/admin/v1/accounts') && seg === '' ? c.accountId : encodeURIComponent(seg.toWellFormed())));

  test('every control-plane route: random bodies, hostile path segments and query strings are 4xx with a code', async () => {
    const specs = g.s.app.routes.specs;
    assert.ok(specs.length > 30, 'the whole route table');
    for (const spec of specs) {
      const key = spec.url.startsWith('/admin/') ? ADMIN_KEY : c.key;
      await fc.assert(
        fc.asyncProperty(hostileBody, fc.oneof(fc.constant(''), hostileString), fc.dictionary(hostileString, hostileString, { maxKeys: 3 }), async (body, seg, query) => {
          const qs = new URLSearchParams(query as Record<string, string>).toString();
          const path = `${pathWith(spec.url, seg)}${qs ? `?${qs}` : ''}`;
          if (path.length > 60_000) return;
          wellRefused(await send(spec.method, path, body, key), `${spec.method} ${spec.url}`);
        }),
        runs(6),
      );
    }
  });

  test('truncated and malformed JSON on every route that takes a body: 400 INVALID_JSON or VALIDATION', async () => {
    const specs = g.s.app.routes.specs.filter((s) => s.method !== 'GET' && s.method !== 'DELETE');
    for (const spec of specs) {
      const key = spec.url.startsWith('/admin/') ? ADMIN_KEY : c.key;
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ v, name: 'x' })), fc.nat(), async (text, cut) => {
          const broken = text.slice(0, cut % text.length) || '{';
          const r = await send(spec.method, pathWith(spec.url, ''), broken, key);
          wellRefused(r, `${spec.method} ${spec.url} ${broken.slice(0, 50)}`);
          if (r.status === 400) assert.match(JSON.parse(r.text).error.code, /^(INVALID_JSON|VALIDATION)$/);
        }),
        runs(4),
      );
    }
  });

  test('malformed amounts on every money-moving route: 400 VALIDATION naming the field, nothing moves', async () => {
    const a = c.accountId;
    // A bonus of "0" is a valid bonus (none), unlike an amount of "0": that route leaves it out.
    const routes: Array<[string, (amount: unknown) => unknown, Array<unknown>?]> = [
      [`/admin/v1/accounts/${a}/topups`, (amount) => ({ amount, method: 'other', reference: 'fuzz' })],
      [`/admin/v1/accounts/${a}/topups`, (bonus) => ({ amount: '1.00', bonus, method: 'other', reference: 'fuzz' }), ['0']],
      [`/admin/v1/accounts/${a}/credits`, (amount) => ({ amount, memo: 'fuzz' })],
      [`/admin/v1/accounts/${a}/holds`, (amount) => ({ amount })],
      ['/admin/v1/redemption-batches', (amount) => ({ count: 1, amount })],
      [`/admin/v1/accounts/${a}/refunds`, (amount) => ({ topup_id: 'top_x', amount })],
    ];
    for (const [path, body, valid = []] of routes) {
      await fc.assert(
        fc.asyncProperty(badAmount.filter((v) => !valid.includes(v)), async (amount) => {
          const r = await send('POST', path, JSON.stringify(body(amount)), ADMIN_KEY);
          wellRefused(r, `${path} ${JSON.stringify(amount)}`);
          assert.equal(r.status, 400, `${path} ${JSON.stringify(amount)}: ${r.text.slice(0, 200)}`);
        }),
        runs(20),
      );
    }
    assert.equal(JSON.stringify(await g.balance(c.accountId)), before$.admin, 'no balance moved');
  });

  test('every data-plane route: random and broken bodies, invalid multipart — 4xx in the caller\'s shape, nothing charged', async () => {
    const routes = ['/v1/chat/completions', '/v1/embeddings', '/v1/images/generations', '/v1/messages', '/v1beta/models/gemini-2.5-flash:generateContent', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', '/v1/models/x%00y:generateContent'];
    for (const path of routes) {
      await fc.assert(
        fc.asyncProperty(hostileBody, fc.nat(), async (body, cut) => {
          const text = body;
          wellRefused(await send('POST', path, text, c.key), `${path} ${text.slice(0, 80)}`);
          wellRefused(await send('POST', path, text.slice(0, cut % (text.length + 1)), c.key), `${path} truncated`);
        }),
        runs(10),
      );
    }
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('XYZ', '', '"', 'a'.repeat(80)), async (raw, boundary) => {
        const body = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-image-1\r\n--${boundary}\r\n${raw}`;
        wellRefused(await send('POST', '/v1/images/edits', body, c.key, `multipart/form-data; boundary=${boundary}`), 'multipart');
      }),
      runs(30),
    );
    await g.settle();
    const rows = await g.logsOfKey(c.keyId);
    assert.ok(rows.length > 0);
    assert.ok(rows.every((r: any) => r.amount === '0.00'), 'nothing charged');
    assert.equal(JSON.stringify(await g.balance(c.accountId)), before$.admin, 'no balance moved');
  });

  test('header injection: CR/LF and odd bytes in what an export reflects never make a header of their own', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, fc.constantFrom('csv', 'ndjson', 'xml', '../csv', 'csv\r\nx-injected: 1'), async (model, format) => {
        for (const base of ['/admin/v1/logs', '/account/v1/logs']) {
          const key = base.startsWith('/admin') ? ADMIN_KEY : c.key;
          const r = await send('GET', `${base}?${new URLSearchParams({ model, format })}`, undefined, key);
          wellRefused(r, `${base} ${JSON.stringify(model)} ${format}`);
          assert.equal(r.headers.get('x-injected'), null);
          const cd = r.headers.get('content-disposition');
          if (cd) assert.match(cd, /^attachment; filename="[A-Za-z0-9._-]+"$/, 'a file name of our own, never a path or the client\'s text');
        }
      }),
      runs(25),
    );
  });

  test('CSV formula injection: what a client wrote (a model name) comes out of every CSV export as text', async () => {
    for (const model of ['=HYPERLINK("http://evil","x")', '+SUM(1,2)', '-2+3', '@cmd', '\t=1']) {
      const r = await send('POST', '/v1/chat/completions', JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }), c.key);
      assert.equal(r.status, 404);
    }
    await g.settle();
    for (const base of ['/admin/v1/logs', '/account/v1/logs']) {
      const key = base.startsWith('/admin') ? ADMIN_KEY : c.key;
      const csv = (await send('GET', `${base}?format=csv&key_id=${c.keyId}`, undefined, key)).text;
      for (const line of csv.split('\n').slice(1)) {
        for (const cell of line.split(',')) {
          const v = cell.replace(/^"/, '');
          assert.doesNotMatch(v, /^[=+@\t]/, `${base}: a cell a spreadsheet would run: ${cell}`);
          if (/^-/.test(v)) assert.match(v, /^-\d+(\.\d+)?$/, `${base}: only numbers may start with -: ${cell}`);
        }
      }
    }
  });
});

test('csvCell: any text comes out as one cell that no spreadsheet runs as a formula', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      const cell = csvCell(s);
      const inner = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
      if (/^[=+\-@\t\r]/.test(inner)) assert.match(inner, /^[+-]?\d+(\.\d+)?$/, `runs as a formula: ${JSON.stringify(cell)}`);
      if (/[",\r\n]/.test(s)) assert.ok(cell.startsWith('"') && cell.endsWith('"'), 'quoted');
    }),
    runs(2000),
  );
});
