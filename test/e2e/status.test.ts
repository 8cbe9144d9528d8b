// The public status page in a real browser: Debian's Chromium driven by playwright-core (no
// browser is downloaded), against a real Surety with the demo and its in-process simulator. Live
// data: customer traffic through the gateway, then a scheduled outage of the simulator's GPT
// model (a fault window) that the status engine detects, and an incident with its timeline. The
// page is checked for its components, the incident timeline and the uptime bars (a day's details
// on keyboard focus), without JavaScript, on a phone without horizontal scrolling; screenshots
// (desktop, phone, dark) go to test-artifacts/status/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, launchChromium, noChromium, shotsDir } from '../helpers/browser.ts';
import type { Browser } from 'playwright-core';
import { existsSync } from 'node:fs';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

export const SHOTS = shotsDir('status');

describe('status page in Chromium', { skip: noChromium }, () => {
  let g: TestGateway;
  let browser: Browser;

  before(async () => {
    g = await startTestGateway();
    const key = g.s.demo!.customerKey;
    const chat = (model: string) =>
      fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'status demo' }] }) }).then(async (r) => (await r.arrayBuffer(), r.status));
    for (let i = 0; i < 12; i++) await chat('gpt-4o-mini');
    // A scheduled outage: the simulator fails every GPT request inside a window starting now.
    const now = Date.now();
    await fetch(`${g.s.sim!.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ faults: [{ model: 'gpt-4o-mini', error_rate: 1, status: 503, from: now, to: now + 60_000 }] }) });
    for (let i = 0; i < 30; i++) await chat('gpt-4o-mini');
    await g.settle();
    await g.s.status.monitor.evaluate();
    await g.s.status.monitor.evaluate();
    const inc = await g.admin('POST', '/admin/v1/incidents', { title: 'GPT requests failing', impact: 'critical', components: ['openai-gpt'], message: 'Requests to GPT models fail; we are investigating.' });
    await g.admin('POST', `/admin/v1/incidents/${inc.id}/updates`, { status: 'identified', body: 'An upstream region is down; traffic is moving to the backup.' });
    await g.admin('POST', '/admin/v1/status/evaluate');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await g?.close();
  });

  test('desktop: components, the incident timeline, uptime bars with details on focus', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', javaScriptEnabled: false });
    const page = await ctx.newPage();
    const res = await page.goto(`${g.url}/status`);
    assert.equal(res!.status(), 200);
    assert.equal(await page.locator('h1').innerText(), 'Surety status');
    assert.match(await page.locator('.banner h2').innerText(), /major system outage/i);
    const names = await page.locator('.comp .name').allInnerTexts();
    assert.deepEqual(names, ['API', 'Console', 'OpenAI GPT', 'Anthropic Claude', 'Google Gemini', 'Nano Banana image', 'GPT-Image']);
    const gpt = page.locator('.comp', { hasText: 'OpenAI GPT' });
    assert.equal(await gpt.locator('.row span').nth(1).innerText(), 'Major outage');
    // The incident and its timeline, newest first.
    const article = page.locator('section[aria-labelledby="h-act"] article');
    assert.match(await article.locator('h3').innerText(), /GPT requests failing/);
    const steps = await article.locator('.timeline li').allInnerTexts();
    assert.equal(steps.length, 2);
    assert.match(steps[0]!, /^Identified — An upstream region is down/);
    assert.match(steps[1]!, /^Investigating — Requests to GPT models fail/);
    // Ninety day bars per component; today's GPT bar is red and tells its incident on focus.
    assert.equal(await gpt.locator('.bars li').count(), 90);
    const today = gpt.locator('.bars li').last();
    assert.equal(await today.getAttribute('class'), 'd4');
    const tip = today.locator('span');
    const hidden = await tip.boundingBox();
    assert.ok(hidden && hidden.width <= 1, 'details are hidden until asked for');
    await today.focus();
    const shown = await tip.boundingBox();
    assert.ok(shown && shown.width > 50 && shown.height > 10, `details shown on focus: ${JSON.stringify(shown)}`);
    assert.match(await tip.innerText(), /Incidents: GPT requests failing/);
    await page.screenshot({ path: join(SHOTS, 'status-desktop.png'), fullPage: true });
    // Keyboard: the skip link comes first, then the language switch.
    await page.keyboard.press('Shift+Tab');
    await page.locator('body').press('Tab');
    // A response-time chart per component, described for screen readers.
    assert.match((await gpt.locator('svg[role="img"]').getAttribute('aria-label')) ?? '', /mean response time per hour over the last 24 hours/);
    await ctx.close();
  });

  test('phone: no horizontal scrolling, thirty bars, readable; dark; Chinese', async () => {
    const ctx = await browser.newContext({ viewport: PHONE, locale: 'zh-CN', isMobile: true, hasTouch: true, colorScheme: 'dark' });
    const page = await ctx.newPage();
    await page.goto(`${g.url}/status`);
    assert.match(await page.locator('.banner h2').innerText(), /重大系统中断/);
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    assert.ok(overflow <= 0, `no horizontal scroll (${overflow}px)`);
    const gpt = page.locator('.comp', { hasText: 'OpenAI GPT' });
    assert.equal(await gpt.locator('.bars li:visible').count(), 30);
    const bg = (await page.evaluate('getComputedStyle(document.body).backgroundColor')) as string;
    assert.equal(bg, 'rgb(13, 17, 23)', 'dark scheme followed');
    // A tap on today's bar shows its details.
    await gpt.locator('.bars li').last().tap();
    assert.match(await gpt.locator('.bars li').last().locator('span').innerText(), /事件：|事件:/);
    await page.screenshot({ path: join(SHOTS, 'status-phone-dark-zh.png'), fullPage: true });
    await ctx.close();
    const light = await browser.newContext({ viewport: PHONE, locale: 'en-GB', isMobile: true, colorScheme: 'light' });
    const p2 = await light.newPage();
    await p2.goto(`${g.url}/status?lang=en`);
    await p2.screenshot({ path: join(SHOTS, 'status-phone.png'), fullPage: true });
    await light.close();
    for (const f of ['status-desktop.png', 'status-phone-dark-zh.png', 'status-phone.png']) assert.ok(existsSync(join(SHOTS, f)), f);
  });
});
