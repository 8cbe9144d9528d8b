// The e-mails of status subscriptions (status/emails.ts) and the outbox's channels: what a
// notice says in each language, operator text escaped in the HTML body, links of one purpose
// only, the sign-up form's fields; and, on real storage, an e-mail delivery with no sender in
// this process is retried (not lost), a sender's final refusal gives it up at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deliverDue, enqueue, type EventEnvelope } from '../../../src/notify/outbox.ts';
import { linkToken } from '../../../src/status/email-subscribers.ts';
import { htmlOf, renderEmail } from '../../../src/status/emails.ts';
import { formFields } from '../../../src/status/subscribe-routes.ts';
import type { Subscriber } from '../../../src/status/subscribers.ts';
import { idem } from '../../helpers/runtime.ts';
import { createTestRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const sub = (o: Partial<Subscriber> = {}): Subscriber => ({
  id: 'sts_1', kind: 'email', account_id: null, target: 'a@example.test', endpoint_id: null, components: ['openai-gpt'], created_at: 0, removed_at: null, confirmed_at: 1, lang: 'en', secret: 'sekrit', ...o,
});
const page = { name: 'Acme', base: 'https://status.acme.test' };
const names = new Map([['openai-gpt', 'OpenAI GPT']]);
const envelope = (topic: string, data: unknown): EventEnvelope => ({ id: 'evt_1', topic, created_at: '2026-12-01T10:00:00.000Z', account_id: null, data });
const incident = (name: string, body: string) =>
  envelope('status.incident_updated', { incident: { id: 'inc_1', name, status: 'identified', components: ['openai-gpt'] }, incident_update: { status: 'identified', body, created_at: '2026-12-01T10:00:00.000Z' } });

test('an incident update: subject, text, escaped HTML, unsubscribe link and headers', () => {
  const m = renderEmail(sub(), incident('Errors <b>now</b>', 'Fixed "soon" & <script>x</script>'), names, page)!;
  assert.equal(m.subject, '[Acme status] Errors <b>now</b> — Identified', 'a subject is text, not HTML');
  assert.match(m.text, /Fixed "soon" & <script>x<\/script>/);
  assert.ok(!m.html.includes('<script>') && !m.html.includes('<b>'), 'operator text is escaped in HTML');
  assert.match(m.html, /&#60;script&#62;/);
  const unsub = `https://status.acme.test/status/subscriptions/sts_1/unsubscribe?token=${linkToken(sub(), 'unsubscribe')}&lang=en`;
  assert.ok(m.text.includes(unsub));
  assert.equal(m.headers!['List-Unsubscribe'], `<${unsub}>`);
  assert.equal(m.headers!['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
  assert.equal(m.messageId, '<evt_1.sts_1@status.acme.test>');
  assert.match(m.text, /Affects: OpenAI GPT/);
});

test('Chinese subscribers get Chinese e-mails; confirmed or not decides the confirmation e-mail', () => {
  const zh = renderEmail(sub({ lang: 'zh' }), envelope('status.component_changed', { component: { id: 'openai-gpt', name: 'OpenAI GPT', status: 'major_outage' }, component_update: { old_status: 'operational', new_status: 'major_outage', created_at: '2026-12-01T10:00:00.000Z' } }), names, page)!;
  assert.equal(zh.subject, '[Acme 服务状态] OpenAI GPT：重大中断');
  assert.match(zh.text, /之前：正常/);
  const confirm = renderEmail(sub({ confirmed_at: null }), envelope('status.email_confirmation', {}), names, page)!;
  assert.equal(confirm.subject, 'Confirm your subscription to Acme status');
  assert.ok(confirm.text.includes(`/confirm?token=${linkToken(sub(), 'confirm')}`));
  assert.equal(confirm.headers!['List-Unsubscribe'], undefined, 'not subscribed yet');
  const again = renderEmail(sub(), envelope('status.email_confirmation', {}), names, page)!;
  assert.equal(again.subject, 'You are already subscribed to Acme status');
  assert.ok(!again.text.includes('/confirm?'), 'no second confirmation');
  assert.equal(renderEmail(sub(), envelope('credit.reissued', {}), names, page), null);
});

test('tokens: one per purpose and subscription, depending on its secret', () => {
  const s = sub();
  assert.notEqual(linkToken(s, 'confirm'), linkToken(s, 'unsubscribe'));
  assert.notEqual(linkToken(s, 'confirm'), linkToken({ ...s, id: 'sts_2' }, 'confirm'));
  assert.notEqual(linkToken(s, 'confirm'), linkToken({ ...s, secret: 'other' }, 'confirm'));
  assert.match(linkToken(s, 'confirm'), /^[A-Za-z0-9_-]{43}$/);
});

test('the form: repeated components are a list, empty ones dropped; HTML paragraphs and links', () => {
  assert.deepEqual(formFields('email=a%40b.test&components=x&components=&components=y&lang=zh'), { email: 'a@b.test', components: ['x', 'y'], lang: 'zh' });
  assert.deepEqual(formFields('List-Unsubscribe=One-Click'), { 'List-Unsubscribe': 'One-Click' });
  assert.match(htmlOf('a\nb\n\nsee https://x.test/p?a=1&b=2', 'en'), /<p>a<br>b<\/p><p>see <a href="https:\/\/x.test\/p\?a=1&#38;b=2">/);
});

describe('outbox channels (sqlite)', () => {
  let t: TestRuntime;
  before(async () => {
    t = await createTestRuntime('sqlite');
  });
  after(async () => t?.close());

  test('an e-mail delivery without a sender is retried; a final refusal gives it up; success delivers', async () => {
    const policy = { baseDelayMs: 1_000, maxDelayMs: 8_000, maxAttempts: 5, timeoutMs: 1_000, batch: 50 };
    const put = async (id: string) => t.rt.db.tx((q) => enqueue(q, { topic: 'status.component_changed', endpointId: id, channel: 'email', payload: {}, key: idem('mail') }));
    assert.equal(await put('sts_a'), 1, 'one delivery, no webhook endpoint needed');
    const now = Date.now();
    assert.deepEqual(await deliverDue(t.rt.db, () => now, policy), { delivered: 0, retried: 1, failed: 0 });
    const row = await t.rt.db.get("SELECT * FROM outbox WHERE endpoint_id = 'sts_a'");
    assert.equal(row!.channel, 'email');
    assert.equal(row!.last_error, 'e-mail is not configured on this instance (SMTP_URL)');
    const seen: string[] = [];
    const channels = new Map([['email', async (d: { endpoint_id: string }) => (seen.push(d.endpoint_id), d.endpoint_id === 'sts_a' ? { ok: true as const, status: 250 } : { ok: false as const, status: 550, error: 'no such user', final: true })]]);
    await put('sts_b');
    assert.deepEqual(await deliverDue(t.rt.db, () => now + 2_000, policy, channels), { delivered: 1, retried: 0, failed: 1 });
    assert.deepEqual(seen.sort(), ['sts_a', 'sts_b']);
    const b = await t.rt.db.get("SELECT * FROM outbox WHERE endpoint_id = 'sts_b'");
    assert.deepEqual([b!.status, Number(b!.attempts), Number(b!.last_status)], ['failed', 1, 550]);
  });
});
