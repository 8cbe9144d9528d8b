// Hostile input at the edge: bodies and values that once crashed the process or poisoned billing
// for every tenant. Each answers a clear 4xx, and the gateway keeps serving and billing afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestGateway, type Customer, type TestGateway } from '../helpers/gateway.ts';

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
