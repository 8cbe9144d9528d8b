// E-mail subscriptions to the status page, end to end with a real SMTP server on loopback
// (smtp-server: STARTTLS, credentials) and the gateway started as `npm start` starts it: the form
// on /status, double opt-in (confirmation mail → confirm link), notices of status changes and
// incident updates as mails with their unsubscribe link and List-Unsubscribe headers, one-click
// unsubscribe, nothing to unconfirmed or unsubscribed addresses, retries while SMTP is down,
// throttled anonymous sign-ups, and a clear error when SMTP is not configured.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Mailer } from '../../../src/notify/mailer.ts';
import { engines } from '../../helpers/engines.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startTestSmtp, type ReceivedMail, type TestSmtp } from '../../helpers/smtp.ts';

const LINK = /https?:\/\/[^\s>]+\/status\/subscriptions\/(sts_[A-Za-z0-9_-]+)\/(confirm|unsubscribe)\?token=[A-Za-z0-9_-]+&lang=(en|zh)/;

for (const engine of engines()) {
  describe(`e-mail subscriptions to the status page (${engine})`, () => {
    let t: TestGateway;
    let smtp: TestSmtp;
    const form = (fields: Array<[string, string]>, ip: string, extra: Record<string, string> = {}) =>
      fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip, ...extra }, body: new URLSearchParams(fields).toString() });
    // Twice: a run already in progress (the background job) may have started before the change.
    const drain = async () => {
      await t.s.rt.jobs.runNow('outbox-deliver');
      await t.s.rt.jobs.runNow('outbox-deliver');
    };
    const deliver = async () => {
      await t.s.rt.jobs.runNow('status-incident-notices');
      await t.s.rt.jobs.runNow('status-incident-notices');
      await drain();
    };
    const linkOf = (m: ReceivedMail, purpose: string) => {
      const found = m.text.match(new RegExp(LINK.source, 'g'))?.find((u) => u.includes(`/${purpose}?`));
      assert.ok(found, `a ${purpose} link in: ${m.text}`);
      return found;
    };
    const emailSubs = async () => (await t.admin('GET', '/admin/v1/status/subscribers')).data.filter((s: any) => s.kind === 'email');

    before(async () => {
      smtp = await startTestSmtp();
      t = await startTestGateway({ engine, demo: false, config: { smtpUrl: smtp.url, smtpFrom: 'Surety status <status@example.test>', smtpTlsRejectUnauthorized: '0', smtpRequireTls: '1', trustProxy: '1' } });
    });
    after(async () => {
      await t?.close();
      await smtp?.stop();
    });

    test('the page offers the form (English and Chinese), plain HTML, within its budget', async () => {
      for (const lang of ['en', 'zh']) {
        const res = await fetch(`${t.url}/status?lang=${lang}`);
        const html = await res.text();
        assert.match(html, /<form class="sub" method="post" action="\/status\/subscriptions">/);
        assert.match(html, /<input type="checkbox" name="components" value="openai-gpt">/);
        assert.match(html, lang === 'zh' ? /订阅邮件通知/ : /Get e-mail notifications/);
        assert.ok(!/<script/i.test(html));
        assert.ok(Buffer.byteLength(html) < 100_000, `${Buffer.byteLength(html)} bytes`);
        assert.match(String(res.headers.get('cache-control')), /public, max-age=/, 'still cached');
      }
    });

    test('double opt-in: confirmation mail, no duplicate, nothing before confirming; then notices with an unsubscribe link; one-click unsubscribe ends them', async () => {
      const addr = 'alice@example.test';
      const res = await form([['email', 'Alice@Example.test'], ['components', 'openai-gpt'], ['lang', 'en']], '10.0.0.1');
      assert.equal(res.status, 200);
      assert.match(await res.text(), /Check your inbox/);
      // Signed up again: the same subscription, a second confirmation mail.
      assert.equal((await form([['email', addr], ['components', 'openai-gpt']], '10.0.0.1')).status, 200);
      assert.equal((await emailSubs()).filter((s: any) => s.email === addr).length, 1, 'no duplicate');
      await deliver();
      const confirmations = smtp.to(addr);
      assert.equal(confirmations.length, 2);
      const c = confirmations[0]!;
      assert.equal(c.subject, 'Confirm your subscription to Surety status');
      assert.ok(!c.headers.has('list-unsubscribe'), 'not a notice');
      assert.match(c.html, /<a href="http:\/\/[^"]+\/confirm\?token=/);
      const confirm = linkOf(c, 'confirm');
      assert.equal(linkOf(confirmations[1]!, 'confirm'), confirm, 'the same link');

      // Unconfirmed: a status change of its component sends it nothing.
      await t.admin('PUT', '/admin/v1/status/components/openai-gpt/override', { status: 'degraded_performance', note: 'slow' });
      await deliver();
      assert.equal(smtp.to(addr).length, 2, 'unconfirmed addresses get no notices');

      // Following the link shows a button; only its POST confirms (mail scanners open links).
      const page = await fetch(confirm);
      assert.equal(page.status, 200);
      const shown = await page.text();
      assert.match(shown, /<form class="act" method="post"/);
      assert.match(shown, /to alice@example\.test\?/);
      assert.match(shown, /\(OpenAI GPT\)/, 'the components by name');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.equal((await emailSubs()).find((s: any) => s.email === addr).confirmed, false);
      const forged = confirm.replace(/token=[^&]+/, 'token=AAAA');
      assert.equal((await fetch(forged, { method: 'POST' })).status, 410);
      const unsubAsConfirm = await fetch(confirm.replace('/confirm?', '/unsubscribe?'), { method: 'POST', headers: { accept: 'application/json' } });
      assert.equal(((await unsubAsConfirm.json()) as any).error.code, 'STATUS_SUBSCRIPTION_LINK_INVALID', 'a link serves one purpose');
      const done = await fetch(confirm, { method: 'POST' });
      assert.equal(done.status, 200);
      assert.match(await done.text(), /Subscription confirmed/);
      assert.equal((await emailSubs()).find((s: any) => s.email === addr).confirmed, true);

      // A change of its component: one mail; of another component: none.
      await t.admin('PUT', '/admin/v1/status/components/openai-gpt/override', { status: 'major_outage', note: 'all GPT requests fail' });
      await t.admin('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'major_outage' });
      await deliver();
      const notices = smtp.to(addr).slice(2);
      assert.equal(notices.length, 1);
      const n = notices[0]!;
      assert.equal(n.subject, '[Surety status] OpenAI GPT: Major outage');
      assert.match(n.text, /OpenAI GPT is now: Major outage \(was: Degraded performance\)/);
      const unsubscribe = linkOf(n, 'unsubscribe');
      assert.equal(n.headers.get('list-unsubscribe'), `<${unsubscribe}>`);
      assert.equal(n.headers.get('list-unsubscribe-post'), 'List-Unsubscribe=One-Click');
      assert.ok(n.html.replace(/&(#38|amp);/g, '&').includes(`href="${unsubscribe}"`), 'the HTML body links it too');

      // An incident update on its component.
      const inc = await t.admin('POST', '/admin/v1/incidents', { title: 'Elevated errors on GPT models', impact: 'major', components: ['openai-gpt'], message: 'We are looking into errors.' });
      await t.admin('POST', `/admin/v1/incidents/${inc.id}/updates`, { status: 'identified', body: 'An upstream key ran out of credit.' });
      await deliver();
      const updates = smtp.to(addr).filter((m) => m.subject.startsWith('[Surety status] Elevated errors on GPT models'));
      assert.deepEqual(updates.map((m) => m.subject).sort(), ['[Surety status] Elevated errors on GPT models — Identified', '[Surety status] Elevated errors on GPT models — Investigating']);
      const identified = updates.find((m) => m.subject.endsWith('Identified'))!;
      assert.match(identified.text, /An upstream key ran out of credit\./);
      assert.match(identified.text, new RegExp(`/status/incidents/${inc.id}`));
      assert.match(identified.text, /Affects: OpenAI GPT/);

      // RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click` to the header's URL.
      const before = smtp.to(addr).length;
      const one = await fetch(unsubscribe, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      assert.equal(one.status, 200);
      assert.match(await one.text(), /Unsubscribed/);
      assert.equal((await emailSubs()).filter((s: any) => s.email === addr).length, 0);
      assert.equal((await fetch(unsubscribe, { method: 'POST' })).status, 200, 'unsubscribing twice is fine');
      await t.admin('DELETE', '/admin/v1/status/components/openai-gpt/override');
      await t.admin('POST', `/admin/v1/incidents/${inc.id}/updates`, { status: 'monitoring', body: 'A fix is in place.' });
      await deliver();
      assert.equal(smtp.to(addr).length, before, 'no more mail once unsubscribed');
      assert.equal((await fetch(confirm, { method: 'POST' })).status, 410, 'the confirm link ended with its subscription');
    });

    test('the mailer checks the server at start: STARTTLS and credentials; a wrong password is named', async () => {
      assert.equal(await t.s.status.email.mailer!.verify(), null);
      const wrong = new Mailer({ url: smtp.url.replace(':sesame@', ':wrong@'), from: 'a@example.test', rejectUnauthorized: false });
      assert.match((await wrong.verify()) ?? '', /^EAUTH/);
      wrong.close();
    });

    test('SMTP down: the delivery is retried with the backoff and lands once the server is back', async () => {
      const addr = 'ops@example.test';
      const s = await t.admin('POST', '/admin/v1/status/subscribers', { email: addr, components: ['google-gemini'], confirmed: true });
      assert.equal(s.kind, 'email');
      assert.equal(s.confirmed, true);
      await smtp.stop();
      try {
        await t.admin('PUT', '/admin/v1/status/components/google-gemini/override', { status: 'partial_outage' });
        await deliver();
        const pending = (await t.admin('GET', `/admin/v1/webhooks/deliveries?channel=email&endpoint_id=${s.id}`)).data;
        assert.equal(pending.length, 1);
        assert.equal(pending[0].status, 'pending');
        assert.equal(pending[0].attempts, 1);
        assert.match(pending[0].last_error, /ECONNECTION|ECONNREFUSED/);
        assert.equal(pending[0].topic, 'status.component_changed');
      } finally {
        await smtp.start();
      }
      await drain();
      assert.equal(smtp.to(addr).length, 0, 'not before its backoff');
      const realNow = t.s.rt.now;
      t.s.rt.now = () => Date.now() + 60_000;
      try {
        await drain();
      } finally {
        t.s.rt.now = realNow;
      }
      const got = smtp.to(addr);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.subject, '[Surety status] Google Gemini: Partial outage');
      const d = (await t.admin('GET', `/admin/v1/webhooks/deliveries?channel=email&endpoint_id=${s.id}`)).data[0];
      assert.equal(d.status, 'delivered');
      assert.equal(d.attempts, 2);
      await t.admin('DELETE', '/admin/v1/status/components/google-gemini/override');
      await t.admin('DELETE', `/admin/v1/status/subscribers/${s.id}`);
    });

    test('customers subscribe addresses of their own (double opt-in) and see those deliveries; Chinese e-mails', async () => {
      const c = await t.customer('1.00');
      const call = (method: string, path: string, body?: unknown) => fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const res = await call('POST', '/account/v1/status/subscriptions', { email: 'team@customer.test', lang: 'zh' });
      assert.equal(res.status, 201);
      const sub = (await res.json()) as any;
      assert.deepEqual([sub.kind, sub.email, sub.confirmed, sub.lang, sub.account_id], ['email', 'team@customer.test', false, 'zh', c.accountId]);
      assert.equal(((await (await call('POST', '/account/v1/status/subscriptions', { email: 'x@customer.test', confirmed: true })).json()) as any).error.code, 'FORBIDDEN');
      assert.deepEqual(((await (await call('GET', '/account/v1/status/subscriptions')).json()) as any).data.map((s: any) => s.id), [sub.id]);
      await deliver();
      const [m] = smtp.to('team@customer.test');
      assert.equal(m!.subject, '确认订阅 Surety 服务状态');
      assert.match(linkOf(m!, 'confirm'), /lang=zh$/);
      const mine = ((await (await call('GET', '/account/v1/webhooks/deliveries?channel=email')).json()) as any).data;
      assert.deepEqual(mine.map((d: any) => [d.topic, d.status, d.endpoint_id]), [['status.email_confirmation', 'delivered', sub.id]]);
      assert.equal((await call('DELETE', `/account/v1/status/subscriptions/${sub.id}`)).status, 200);
    });

    test('a confirmation link lasts 7 days; the hourly prune then ends the unconfirmed subscription', async () => {
      const addr = 'late@example.test';
      assert.equal((await form([['email', addr]], '10.4.0.1')).status, 200);
      await deliver();
      const confirm = linkOf(smtp.to(addr)[0]!, 'confirm');
      const realNow = t.s.rt.now;
      t.s.rt.now = () => Date.now() + 8 * 86_400_000;
      try {
        const late = await fetch(confirm, { headers: { accept: 'application/json' } });
        assert.equal(late.status, 410);
        assert.equal(((await late.json()) as any).error.code, 'STATUS_SUBSCRIPTION_LINK_INVALID');
        assert.equal((await emailSubs()).filter((s: any) => s.email === addr).length, 1, 'still listed until the prune');
        await t.s.rt.jobs.runNow('status-prune');
        assert.equal((await emailSubs()).filter((s: any) => s.email === addr).length, 0);
      } finally {
        t.s.rt.now = realNow;
      }
    });

    test('anonymous sign-ups are throttled per address and per client; bad input is a clear error', async () => {
      const addr = 'victim@example.test';
      for (let i = 0; i < 3; i++) assert.equal((await form([['email', addr]], `10.1.0.${i}`)).status, 200);
      const refused = await form([['email', addr]], '10.1.0.9', { accept: 'application/json' });
      assert.equal(refused.status, 429);
      assert.equal(((await refused.json()) as any).error.code, 'RATE_LIMITED');
      assert.ok(Number(refused.headers.get('retry-after')) > 3600, 'the address waits most of a day');
      for (let i = 0; i < 10; i++) assert.equal((await form([['email', `user${i}@example.test`]], '10.2.0.1')).status, 200);
      const html = await form([['email', 'user10@example.test']], '10.2.0.1');
      assert.equal(html.status, 429);
      assert.match(await html.text(), /Too many e-mail sign-ups/);
      const zh = await form([['email', 'user10@example.test'], ['lang', 'zh']], '10.2.0.1');
      assert.match(await zh.text(), /订阅请求过多，请在 \d+ 秒后重试/, 'the page speaks the language it was sent from');
      await deliver();
      assert.equal(smtp.to(addr).length, 3, 'the victim got three mails, not four');
      const bad = await fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.3.0.1' }, body: JSON.stringify({ email: 'not-an-address' }) });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as any).error.code, 'VALIDATION');
      const unknown = await fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.3.0.1' }, body: JSON.stringify({ email: 'a@example.test', components: ['no-such'] }) });
      assert.equal(((await unknown.json()) as any).error.code, 'STATUS_COMPONENT_NOT_FOUND');
      const sneaky = await fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.3.0.1' }, body: JSON.stringify({ email: 'b@example.test', confirmed: true }) });
      assert.equal(((await sneaky.json()) as any).error.code, 'FORBIDDEN', 'an anonymous sign-up cannot skip the confirmation');
    });
  });
}

describe('e-mail subscriptions without SMTP', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ demo: false });
  });
  after(async () => t?.close());

  test('no form on the page; every sign-up route answers EMAIL_NOT_CONFIGURED', async () => {
    const html = await (await fetch(`${t.url}/status`)).text();
    assert.ok(!html.includes('/status/subscriptions'), 'no e-mail form');
    const json = await fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'a@example.test' }) });
    assert.equal(json.status, 409);
    assert.equal(((await json.json()) as any).error.code, 'EMAIL_NOT_CONFIGURED');
    const page = await fetch(`${t.url}/status/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a%40example.test' });
    assert.equal(page.status, 409);
    assert.match(String(page.headers.get('content-type')), /text\/html/);
    assert.match(await page.text(), /E-mail is not configured/);
    const admin = await t.adminRaw('POST', '/admin/v1/status/subscribers', { email: 'a@example.test', confirmed: true });
    assert.equal(admin.body.error.code, 'EMAIL_NOT_CONFIGURED');
    assert.equal((await t.adminRaw('POST', '/admin/v1/status/subscribers', { url: 'http://127.0.0.1:9/hook' })).status, 201, 'webhooks still work');
  });
});
