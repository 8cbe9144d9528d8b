// Signing up for e-mail notices on the status page in a real browser with JavaScript off, on a
// phone: the form (an address, one component ticked) posts as plain HTML; the confirmation mail
// arrives at a real SMTP server on loopback; its link opens a page whose button confirms; the next
// status change of that component lands as a mail. In Chinese too. Screenshots go to
// test-artifacts/status/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { PHONE, launchChromium, noChromium, shotsDir } from '../helpers/browser.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';

const SHOTS = shotsDir('status');

describe('e-mail sign-up on the status page in Chromium', { skip: noChromium }, () => {
  let g: TestGateway;
  let smtp: TestSmtp;
  let browser: Browser;
  const deliver = async () => {
    for (let i = 0; i < 2; i++) await g.s.rt.jobs.runNow('outbox-deliver');
  };

  before(async () => {
    smtp = await startTestSmtp();
    g = await startTestGateway({ demo: false, config: { smtpUrl: smtp.url, smtpFrom: 'Surety status <status@example.test>', smtpTlsRejectUnauthorized: '0' } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await g?.close();
    await smtp?.stop();
  });

  for (const lang of ['en', 'zh'] as const) {
    test(`${lang}: form without script → confirmation mail → confirm button → notices`, async () => {
      const addr = `reader-${lang}@example.test`;
      const ctx = await browser.newContext({ viewport: PHONE, locale: lang === 'zh' ? 'zh-CN' : 'en-GB', javaScriptEnabled: false });
      const page = await ctx.newPage();
      await page.goto(`${g.url}/status?lang=${lang}`);
      const form = page.locator('form.sub');
      await form.locator('input[type=email]').fill(addr);
      await form.locator('summary').click();
      await form.locator('input[value="anthropic-claude"]').check();
      if (lang === 'en') await page.screenshot({ path: join(SHOTS, 'status-subscribe-phone.png'), fullPage: true });
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
      assert.ok(overflow <= 0, `no horizontal scroll (${overflow}px)`);
      await form.locator('button[type=submit]').click();
      await page.waitForLoadState();
      assert.match(await page.locator('main h2').innerText(), lang === 'zh' ? /请查收邮件/ : /Check your inbox/);

      await deliver();
      const [mail] = smtp.to(addr);
      assert.ok(mail, 'the confirmation mail arrived');
      assert.equal(mail.subject, lang === 'zh' ? '确认订阅 Surety 服务状态' : 'Confirm your subscription to Surety status');
      const link = mail.text.match(/https?:\/\/\S+\/confirm\?token=\S+/)![0];
      await page.goto(link);
      assert.match(await page.locator('main').innerText(), /Anthropic Claude/);
      await page.locator('form.act button').click();
      await page.waitForLoadState();
      assert.match(await page.locator('main h2').innerText(), lang === 'zh' ? /订阅已确认/ : /Subscription confirmed/);
      if (lang === 'en') await page.screenshot({ path: join(SHOTS, 'status-subscribe-confirmed-phone.png'), fullPage: true });
      await ctx.close();

      await g.admin('PUT', '/admin/v1/status/components/anthropic-claude/override', { status: 'partial_outage' });
      await deliver();
      const notice = smtp.to(addr)[1];
      assert.ok(notice, 'a notice after confirming');
      assert.equal(notice.subject, lang === 'zh' ? '[Surety 服务状态] Anthropic Claude：部分中断' : '[Surety status] Anthropic Claude: Partial outage');
      await g.admin('DELETE', '/admin/v1/status/components/anthropic-claude/override');
    });
  }
});
