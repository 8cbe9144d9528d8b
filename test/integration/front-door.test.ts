// The data plane's front door (src/gateway/front.ts): provider POSTs are read off node:http before
// Fastify. What Fastify used to give those routes still holds (the client's address behind a
// trusted proxy), and everything else is left to Fastify. Bodies (too large, truncated, wrong
// type, bad JSON, NUL bytes, multipart) are covered where they were: security, gateway tests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestGateway } from '../helpers/gateway.ts';

const chatBody = (content: string) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

describe('the data plane front door (sqlite)', () => {
  test('behind a trusted proxy the row keeps the first X-Forwarded-For address; paths it does not serve go on to Fastify', async () => {
    const g = await startTestGateway({ config: { trustProxy: '1' } });
    try {
      const c = await g.customer('1.00');
      const r = await fetch(`${g.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7, 10.0.0.1' },
        body: chatBody('hi'),
      });
      assert.equal(r.status, 200);
      await g.settle();
      assert.equal((await g.log(r.headers.get('x-request-id')!)).client_ip, '203.0.113.7');
      // A GET of a data-plane path and a POST to a path it does not serve are Fastify's.
      const list = await fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } });
      assert.equal(list.status, 200);
      assert.ok(((await list.json()) as { data: { id: string }[] }).data.some((m) => m.id === 'gpt-4o-mini'));
      const stray = await fetch(`${g.url}/v1/chat/completions/`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: chatBody('hi') });
      assert.equal(stray.status, 404);
      assert.equal(((await stray.json()) as { error: { code: string } }).error.code, 'ROUTE_NOT_FOUND');
    } finally {
      await g.close();
    }
  });
});
