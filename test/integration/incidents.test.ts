// An incident end to end, with real traffic through a real gateway to the simulator (HTTP, the demo
// catalog, SQLite and PostgreSQL): a window of injected platform faults and of responses that looked
// fine but were charged; declare, preview, export (HTTP and a directory) and verify the manifest;
// reissue twice, widen, re-attribute — checking every ledger movement and `ledger verify`; the
// customer's feed and webhook; and a platform-fault burst that opens a draft incident.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectIncidents } from '../../src/incidents/detector.ts';
import { INCIDENT_SCOPE_DATASETS, scopeRows } from '../../src/incidents/export.ts';
import { channelIds, selection } from '../../src/incidents/scope.ts';
import { publishedIncidents } from '../../src/incidents/index.ts';
import { writeExportDir } from '../../src/kernel/export.ts';
import { formatUsd } from '../../src/kernel/money.ts';
import { verifyExportDir } from '../../src/kernel/export-verify.ts';
import { deliverDue, verifySignature } from '../../src/notify/outbox.ts';
import { engines } from '../helpers/engines.ts';
import { startTestGateway, usd, type Customer, type TestGateway } from '../helpers/gateway.ts';

const CHAT = (content: string, model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content }] });

for (const engine of engines()) {
  describe(`incidents with real traffic (${engine})`, () => {
    let g: TestGateway;
    let A: Customer;
    let B: Customer;
    let C: Customer;
    const reqs: Record<string, string[]> = {};
    let t0 = 0;
    let t1 = 0;
    let incidentId = '';
    const chat = async (c: Customer, content: string, model = 'gpt-4o-mini', tag = 'x') => {
      const embed = model.startsWith('text-embedding');
      const body = embed ? { model, input: content } : CHAT(content, model);
      const r = await fetch(`${g.url}/v1/${embed ? 'embeddings' : 'chat/completions'}`, { method: 'POST', headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await r.text();
      (reqs[tag] ??= []).push(r.headers.get('x-request-id')!);
      return r.status;
    };
    const ledgerCount = async () => Number((await g.s.rt.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM ledger_tx'))!.n);
    const granted = async (c: Customer) => usd((await g.balance(c.accountId)).granted);
    const amountOf = async (ids: string[]) => {
      let n = 0n;
      for (const id of ids) n += usd((await g.log(id)).amount);
      return n;
    };

    before(async () => {
      // A high breaker threshold: injected faults stay platform errors instead of opening the circuit.
      g = await startTestGateway({ engine, gateway: { router: { failureThreshold: 1000 } } });
      [A, B, C] = [await g.customer('10.00'), await g.customer('10.00'), await g.customer('10.00')];
      assert.equal(await chat(A, 'before the window', 'gpt-4o-mini', 'before'), 200);
      await g.settle();
      await sleep(5);
      t0 = Date.now();
      // The window: A's answers looked fine and were charged; some requests hit our own misconfiguration
      // (the upstream refuses our key: platform_error); B had an upstream failure; C used another model.
      for (let i = 0; i < 3; i++) assert.equal(await chat(A, `looked fine ${i}`, 'gpt-4o-mini', 'a-ok'), 200);
      assert.equal(await chat(A, '[[sim:error=401]] our key is wrong', 'gpt-4o-mini', 'a-fail'), 502);
      assert.equal(await chat(A, '[[sim:error=401]] still wrong', 'gpt-4o-mini', 'a-fail'), 502);
      for (let i = 0; i < 2; i++) assert.equal(await chat(B, `fine ${i}`, 'gpt-4o-mini', 'b-ok'), 200);
      assert.equal(await chat(B, '[[sim:error=500]] upstream down', 'gpt-4o-mini', 'b-fail'), 502);
      assert.equal(await chat(C, 'other model', 'text-embedding-3-small', 'c-ok'), 200);
      await g.settle();
      await sleep(5);
      t1 = Date.now();
      await sleep(5);
      assert.equal(await chat(A, 'after the window', 'gpt-4o-mini', 'after'), 200);
      await g.settle();
    });
    after(async () => g?.close());

    test('declare and preview: charged (default), failed, all — grouped per account, amounts from the logs; nothing written', async () => {
      const d = await g.admin('POST', '/admin/v1/incidents', {
        title: 'Wrong upstream key on gpt-4o-mini', severity: 'sev2', impact: 'major', attribution: 'platform', components: ['openai'],
        scope: { models: ['gpt-4o-mini'] }, window_start: new Date(t0).toISOString(), window_end: new Date(t1).toISOString(),
      });
      incidentId = d.id;
      const before = await ledgerCount();
      const p = await g.admin('GET', `/admin/v1/incidents/${incidentId}/affected`);
      const byAcct = Object.fromEntries(p.accounts.map((l: any) => [l.account_id, l]));
      assert.deepEqual(Object.keys(byAcct).sort(), [A.accountId, B.accountId].sort(), 'C used another model');
      assert.equal(byAcct[A.accountId].requests, 3);
      assert.equal(usd(byAcct[A.accountId].charged), await amountOf(reqs['a-ok']!));
      assert.ok(usd(byAcct[A.accountId].charged) > 0n);
      assert.equal(usd(byAcct[B.accountId].to_credit), await amountOf(reqs['b-ok']!));
      const failed = await g.admin('GET', `/admin/v1/incidents/${incidentId}/affected?outcome=failed`);
      assert.deepEqual(failed.accounts.map((l: any) => [l.account_id, l.failed_requests, l.charged]).sort(), [[A.accountId, 2, '0.00'], [B.accountId, 1, '0.00']].sort());
      const all = await g.admin('GET', `/admin/v1/incidents/${incidentId}/affected?outcome=all`);
      assert.equal(all.totals.requests, 8);
      assert.equal((await g.adminRaw('GET', `/admin/v1/incidents/${incidentId}/affected?outcome=most`)).status, 400);
      assert.equal(await ledgerCount(), before, 'the preview writes nothing');
    });

    test('export: streamed CSV matches its manifest; a directory export verifies; a customer gets only their slice', async () => {
      const csv = await fetch(`${g.url}/admin/v1/incidents/${incidentId}/export?format=csv`, { headers: { authorization: 'Bearer sa-test-operator-key-0123456789abcdef' } });
      assert.equal(csv.status, 200);
      const text = await csv.text();
      const m = await g.admin('GET', `/admin/v1/incidents/${incidentId}/export/manifest?format=csv`);
      assert.equal(m.dataset, 'incident-scope');
      assert.equal(m.rows, 5);
      assert.equal(m.files[0].sha256, createHash('sha256').update(text).digest('hex'), 'the manifest hashes exactly what was streamed');
      assert.equal(m.filter.incident_id, incidentId);
      assert.equal(m.accounts.find((a: any) => a.account_id === A.accountId).sums.amount, (await g.admin('GET', `/admin/v1/incidents/${incidentId}/affected`)).accounts.find((l: any) => l.account_id === A.accountId).charged);
      assert.ok(text.split('\n')[0]!.startsWith('incident_id,id,account_id'));

      const dir = mkdtempSync(join(tmpdir(), 'surety-incident-export-'));
      try {
        const inc = (await g.s.rt.db.get('SELECT * FROM incidents WHERE id = ?', [incidentId]))!;
        const { toIncident } = await import('../../src/incidents/model.ts');
        const s = selection(toIncident(inc), 'charged', Date.now(), { channelIds: await channelIds(g.s.rt.db) });
        const written = await writeExportDir(join(dir, 'x'), 'scope', INCIDENT_SCOPE_DATASETS.operator, ['csv', 'ndjson'], scopeRows(g.s.rt.db, incidentId, s, 'operator'), s.describe);
        assert.equal(written.rows, 5);
        const v = await verifyExportDir(join(dir, 'x'));
        assert.equal(v.ok, true, JSON.stringify(v.problems));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }

      const mine = await fetch(`${g.url}/account/v1/incidents/${incidentId}/export?format=ndjson`, { headers: { authorization: `Bearer ${A.key}` } });
      const rows = (await mine.text()).trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(rows.length, 3);
      assert.ok(rows.every((r) => r.account_id === A.accountId && !('channel_id' in r) && r.incident_id === incidentId));
      const other = await fetch(`${g.url}/account/v1/incidents/${incidentId}/export?account_id=${B.accountId}`, { headers: { authorization: `Bearer ${A.key}` } });
      assert.equal(other.status, 404);
    });

    test('reissue twice, widen, re-attribute: every ledger movement checked, ledger verify clean; the feed and the webhook', async () => {
      // A's webhook, a real receiver.
      const got: Array<{ sig: string; body: string }> = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c));
        req.on('end', () => (got.push({ sig: String(req.headers['surety-signature']), body }), res.end()));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      try {
        const hook = await g.adminRaw('POST', '/account/v1/webhooks', { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, topics: ['credit.*'] }, { authorization: `Bearer ${A.key}` });
        assert.equal(hook.status, 201, hook.text);

        const aCharged = await amountOf(reqs['a-ok']!);
        const bCharged = await amountOf(reqs['b-ok']!);
        const tx0 = await ledgerCount();
        const r1 = await g.admin('POST', `/admin/v1/incidents/${incidentId}/reissue`, {});
        const line = (r: any, c: Customer) => r.accounts.find((l: any) => l.account_id === c.accountId);
        assert.deepEqual([usd(line(r1, A).credited_now), usd(line(r1, A).total), usd(line(r1, B).credited_now)], [aCharged, aCharged, bCharged]);
        assert.equal(await ledgerCount(), tx0 + 2, 'one journal transaction per credited account');
        assert.deepEqual([await granted(A), await granted(B), await granted(C)], [aCharged, bCharged, 0n]);
        const credit = (await g.ledger(A.accountId))[0];
        assert.equal(credit.kind, 'credit');

        const r2 = await g.admin('POST', `/admin/v1/incidents/${incidentId}/reissue`, {});
        assert.deepEqual([line(r2, A).credited_now, line(r2, B).credited_now, usd(line(r2, A).total)], ['0.00', '0.00', aCharged]);
        assert.equal(await ledgerCount(), tx0 + 2, 'applying twice credits once');

        // Widen: the window now takes A's later request too; only the difference is credited.
        await g.admin('PATCH', `/admin/v1/incidents/${incidentId}`, { window_end: new Date(Date.now()).toISOString() });
        const later = await amountOf(reqs.after!);
        const r3 = await g.admin('POST', `/admin/v1/incidents/${incidentId}/reissue`, {});
        assert.deepEqual([usd(line(r3, A).credited_now), usd(line(r3, A).total), line(r3, B).credited_now], [later, aCharged + later, '0.00']);
        assert.equal(await granted(A), aCharged + later);
        assert.deepEqual((await g.verify()).problems, []);

        // The customer's feed names the incident and lists the credited requests.
        const feed = await g.adminRaw('GET', '/account/v1/credits', undefined, { authorization: `Bearer ${A.key}` });
        const entries = feed.body.data.filter((c: any) => c.ref_type === 'incident');
        assert.equal(entries.length, 2);
        assert.ok(entries.every((e: any) => e.incident.id === incidentId && e.incident.title.startsWith('Wrong upstream key')));
        const first = entries.find((e: any) => usd(e.amount) === aCharged);
        const detail = await g.adminRaw('GET', `/account/v1/credits/${first.id}`, undefined, { authorization: `Bearer ${A.key}` });
        assert.deepEqual(detail.body.requests.map((r: any) => r.id).sort(), [...reqs['a-ok']!].sort());

        // The webhook: signed, one per movement.
        await deliverDue(g.s.rt.db, Date.now);
        assert.equal(got.length, 2);
        const secret = hook.body.secret;
        assert.ok(got.every((x) => verifySignature(secret, x.sig, x.body)));
        assert.deepEqual(got.map((x) => JSON.parse(x.body).data.amount).sort(), [formatUsd(aCharged), formatUsd(later)].sort());

        // Re-attribute to the upstream: correcting entries take every credit back; reissuance is then refused.
        const tx1 = await ledgerCount();
        const p = await g.admin('PATCH', `/admin/v1/incidents/${incidentId}`, { attribution: 'upstream' });
        assert.deepEqual(p.reversed.map((x: any) => [x.account_id, BigInt(x.amount)]).sort(), [[A.accountId, -(aCharged + later)], [B.accountId, -bCharged]].sort());
        assert.equal(await ledgerCount(), tx1 + 2);
        assert.deepEqual([await granted(A), await granted(B)], [0n, 0n]);
        const refused = await g.adminRaw('POST', `/admin/v1/incidents/${incidentId}/reissue`, {});
        assert.deepEqual([refused.status, refused.body.error.code, refused.body.error.attribution], [409, 'REISSUE_NOT_PLATFORM', 'upstream']);
        assert.deepEqual((await g.verify()).problems, []);
      } finally {
        server.close();
      }
    });

    test('a platform-fault burst opens a draft incident with its evidence, never published; no second draft', async () => {
      const D = await g.customer('10.00');
      for (let i = 0; i < 24; i++) assert.equal(await chat(D, `[[sim:error=401]] burst ${i}`, 'gpt-4o-mini', 'burst'), 502);
      await g.settle();
      const settings = { windowMs: 300_000, minRequests: 20, platformPct: 5, upstreamPct: 60 };
      const opened = await detectIncidents(g.s.rt, settings);
      assert.equal(opened.length, 1);
      const d = await g.admin('GET', `/admin/v1/incidents/${opened[0]}`);
      assert.deepEqual([d.status, d.published, d.source, d.attribution, d.components, d.scope.models], ['draft', false, 'detector', 'platform', ['openai'], ['gpt-4o-mini']]);
      assert.ok(d.evidence.failures >= 24 && d.evidence.rate_pct >= 5 && d.evidence.threshold_pct === 5);
      assert.equal(d.evidence.sample_request_ids.length, 10);
      assert.equal(d.updates.length, 0);
      assert.ok(!(await publishedIncidents(g.s.rt.db, 0)).some((x) => x.incident.id === opened[0]));
      assert.deepEqual(await detectIncidents(g.s.rt, settings), [], 'a draft is open for openai: no second one');
    });
  });
}

