// The web console in a real browser: Debian's Chromium driven by playwright-core (no browser is
// downloaded), against a real Surety started as `npm start` starts it, with the demo and its
// in-process simulator. The flows of issue 12: a customer signs in, sees the demo traffic in the
// chart and the log, creates a key with a model allow-list, uses it with the openai SDK, sees the
// request appear, revokes the key and the next call fails; an operator records a bank-transfer
// top-up and the customer's balance shows it; an operator approves a refund; a customer sorts
// tables from their headers and asks a refund through the in-page dialog; an operator adds a
// channel and tests it. Screenshots (desktop and phone) go to test-artifacts/console/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, launchChromium, noChromium, shotsDir } from '../helpers/browser.ts';
import OpenAI from 'openai';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

export const SHOTS = shotsDir('console');

describe('web console in Chromium', { skip: noChromium }, () => {
  let g: TestGateway;
  let browser: Browser;
  let customer: BrowserContext;
  let operator: BrowserContext;
  let demoKey: string;
  let demoAccount: string;

  before(async () => {
    g = await startTestGateway();
    demoKey = g.s.demo!.customerKey;
    demoAccount = g.s.demo!.accountId;
    // Demo traffic on two models, so that the chart and the log have something to show.
    const sdk = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: demoKey, maxRetries: 0 });
    for (let i = 0; i < 2; i++) await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello from the demo' }] });
    await sdk.embeddings.create({ model: 'text-embedding-3-small', input: 'Hello from the demo' });
    await g.settle();
    browser = await launchChromium();
    customer = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
    operator = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
  });
  after(async () => {
    await browser?.close();
    await g?.close();
  });

  /** A desktop screenshot, and a phone one for the pages a phone user needs most. */
  async function shoot(page: Page, name: string, phone = false): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
    if (!phone) return;
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  async function signIn(ctx: BrowserContext, key: string): Promise<Page> {
    const page = await ctx.newPage();
    await page.goto(`${g.url}/console/`);
    // A context that signed in before keeps its session (the cookie) and goes straight in.
    await page.locator('input[name=key], header button:has-text("Sign out")').first().waitFor();
    if (await page.locator('input[name=key]').count()) {
      await page.getByLabel('Customer key or operator key').fill(key);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return page;
  }

  /** Controls without an accessible name (a label, aria-label, or a button's text): none is allowed. */
  const unlabelled = (page: Page) =>
    page.evaluate<string[]>(`[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a')]
      .filter((e) => e.tagName === 'BUTTON' || e.tagName === 'A' ? !(e.textContent.trim() || e.getAttribute('aria-label')) : !(e.labels?.length || e.getAttribute('aria-label')))
      .map((e) => e.outerHTML.slice(0, 100))`);

  const nav = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name, exact: true }).click();

  test('a customer signs in, sees the demo traffic, makes a key with a model allow-list, uses it with the openai SDK, sees the request, revokes it', async () => {
    const first = await customer.newPage();
    await first.goto(`${g.url}/console/`);
    await first.getByRole('heading', { name: 'Sign in to Surety' }).waitFor();
    await shoot(first, 'sign-in', true);
    await first.close();

    const page = await signIn(customer, demoKey);
    // The key is nowhere in the browser's storage, and the cookie is HttpOnly.
    const stored = await page.evaluate<string>('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie');
    assert.doesNotMatch(stored, /sk-sur-/);
    const cookies = await customer.cookies();
    assert.deepEqual(cookies.map((c) => [c.name, c.httpOnly, c.sameSite]), [['surety_session', true, 'Strict']]);

    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // The chart is drawn (uPlot's canvas) with one legend entry per model of the demo traffic.
    await page.locator('.chart canvas').first().waitFor();
    const legend = await page.locator('.chart .u-legend .u-label').allTextContents();
    assert.deepEqual(legend.slice(1).sort(), ['gpt-4o-mini', 'text-embedding-3-small']);
    const balance = await g.balance(demoAccount);
    assert.equal(await page.getByTestId('available').locator('.big').textContent(), `$${balance.available}`);
    await shoot(page, 'overview', true);

    await nav(page, 'Request log');
    await page.getByRole('cell', { name: 'text-embedding-3-small' }).first().waitFor();
    assert.equal(await page.locator('tbody tr').count(), 3);
    assert.deepEqual(await unlabelled(page), []);
    // Rows open from the keyboard too.
    await page.locator('tbody tr').first().focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });

    await nav(page, 'API keys');
    await page.getByText('Create a key').click();
    await page.getByLabel('Name', { exact: true }).fill('browser key');
    await page.getByLabel('Model allow-list').fill('gpt-4o-mini');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('new-key').textContent())!;
    assert.match(secret, /^sk-sur-/);
    await page.getByRole('row', { name: /browser key/ }).getByText('gpt-4o-mini').waitFor();
    await shoot(page, 'keys', true);
    assert.deepEqual(await unlabelled(page), []);

    const sdk = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: secret, maxRetries: 0 });
    const answer = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'from the new key' }] });
    assert.ok(answer.choices[0]?.message.content);
    await assert.rejects(sdk.embeddings.create({ model: 'text-embedding-3-small', input: 'not allowed' }), (e: { status?: number }) => e.status === 403);
    await g.settle();

    await nav(page, 'Request log');
    await page.locator('tbody tr').nth(4).waitFor();
    assert.equal(await page.locator('tbody tr').count(), 5);
    await page.locator('tbody tr').first().click();
    const drawer = page.getByRole('dialog');
    await drawer.getByText('The key was missing, wrong, expired or revoked, or not allowed this.').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('tbody tr').nth(1).click();
    await drawer.getByRole('heading', { name: 'Attempts' }).waitFor();
    await drawer.getByText('The upstream answered and the response was delivered.').waitFor();
    // The cost breakdown: billable tokens at the price version's rates, and what was charged.
    await drawer.getByRole('cell', { name: 'input_tokens' }).waitFor();
    await drawer.getByRole('cell', { name: 'output_tokens' }).waitFor();
    await shoot(page, 'log-detail', true);
    await page.keyboard.press('Escape');

    await nav(page, 'API keys');
    await page.getByRole('row', { name: /browser key/ }).getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('row', { name: /browser key/ }).getByText('revoked').waitFor();
    await assert.rejects(sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after revoking' }] }), (e: { status?: number }) => e.status === 401);

    // Chinese, dark: chosen in the header, kept for the next visit.
    await page.getByLabel('Language').selectOption('zh');
    await page.getByLabel('主题').selectOption('dark');
    // Polled from here: waitForFunction with a string evaluates it with eval inside the page, which
    // the console's CSP (script-src 'self') refuses whenever the first check is false.
    for (let i = 0; ; i++) {
      if (await page.evaluate<boolean>("document.documentElement.getAttribute('data-theme') === 'dark' && localStorage.getItem('surety.theme') === 'dark'")) break;
      assert.ok(i < 200, 'the dark theme is applied and saved');
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.goto(`${g.url}/console/overview`);
    await page.getByRole('heading', { name: '概览' }).waitFor();
    await page.locator('.chart canvas').first().waitFor();
    assert.equal(await page.evaluate<string | null>("document.documentElement.getAttribute('data-theme')"), 'dark');
    await shoot(page, 'overview-zh-dark');
    await page.getByLabel('语言').selectOption('en');
    await page.getByLabel('Theme').selectOption('auto');
    await page.close();
  });

  test('an operator records a bank-transfer top-up; the customer\'s balance shows it', async () => {
    const page = await signIn(operator, ADMIN_KEY);
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.locator('.chart canvas').first().waitFor();
    await shoot(page, 'operator-dashboard');

    await nav(page, 'Accounts');
    await page.getByLabel('Search').fill('Demo');
    await page.getByRole('cell', { name: demoAccount }).click();
    await page.getByRole('heading', { name: 'Record a top-up' }).waitFor();
    const form = page.getByRole('form', { name: 'Record a top-up' });
    await form.getByLabel('Amount (USD)').fill('1234.56');
    await form.getByLabel('Reference', { exact: true }).fill('WIRE-2026-001');
    await form.getByLabel('Contract number').fill('CN-42');
    const before = await g.balance(demoAccount);
    await form.getByRole('button', { name: 'Record top-up' }).click();
    await page.getByRole('alertdialog').getByText('reference WIRE-2026-001').waitFor();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Record top-up' }).click();
    await page.getByRole('cell', { name: 'WIRE-2026-001' }).waitFor();
    const after = await g.balance(demoAccount);
    assert.equal(Number(after.paid) * 100 - Number(before.paid) * 100, 123456);
    await page.getByTestId('op-available').getByText(`$${after.available}`).waitFor();
    await shoot(page, 'operator-account');
    assert.deepEqual(await unlabelled(page), []);
    const topups = await g.admin('GET', `/admin/v1/accounts/${demoAccount}/topups`);
    assert.equal(topups.data.filter((t: { reference: string; contract_number: string }) => t.reference === 'WIRE-2026-001' && t.contract_number === 'CN-42').length, 1);

    const cust = await customer.newPage();
    await cust.goto(`${g.url}/console/overview`);
    await cust.getByTestId('available').getByText(`$${after.available}`).waitFor();
    await cust.close();
    await page.close();
  });

  test('an operator approves a refund', async () => {
    const topups = await g.admin('GET', `/admin/v1/accounts/${demoAccount}/topups`);
    const wire = topups.data.find((t: { reference: string }) => t.reference === 'WIRE-2026-001');
    const asked = await fetch(`${g.url}/account/v1/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json', 'idempotency-key': 'browser-refund-1' },
      body: JSON.stringify({ topup_id: wire.id, amount: '100.00', reason: 'over-paid' }),
    });
    assert.equal(asked.status, 201, await asked.clone().text());
    const refund = (await asked.json()) as { id: string };

    const page = await signIn(operator, ADMIN_KEY);
    await nav(page, 'Queues');
    const row = page.getByRole('row', { name: /over-paid/ });
    await row.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('row', { name: /over-paid/ }).waitFor({ state: 'detached' });
    const done = await g.admin('GET', `/admin/v1/refunds/${refund.id}`);
    assert.equal(done.status, 'approved');
    assert.equal(done.payout, '100.00');
    await page.close();
  });

  test('tables sort on the server from their headers; a refund is asked through the in-page dialog, never window.prompt', async () => {
    const extra = await g.adminRaw('POST', `/admin/v1/accounts/${demoAccount}/topups`, { amount: '5.00', method: 'card' }, { 'idempotency-key': 'browser-sort-topup' });
    assert.equal(extra.status, 201, extra.text);
    const page = await signIn(customer, demoKey);
    const native: string[] = [];
    page.on('dialog', (d) => (native.push(d.type()), void d.dismiss()));
    const asked: string[] = [];
    page.on('request', (r) => r.url().includes('/account/v1/') && asked.push(r.url()));
    const amountsOf = async (table: ReturnType<Page['getByRole']>, col: number) =>
      (await table.locator(`tbody tr td:nth-child(${col})`).allTextContents()).map((x) => Number(x.replace(/[$,]/g, '')));

    await nav(page, 'Billing');
    const topups = page.getByRole('table', { name: 'Top-ups' });
    await topups.locator('tbody tr').nth(1).waitFor();
    const amountHeader = topups.getByRole('columnheader', { name: /Amount/ });
    assert.equal(await amountHeader.getAttribute('aria-sort'), null);
    assert.equal(await topups.getByRole('columnheader', { name: /Time/ }).getAttribute('aria-sort'), 'descending');
    // Keyboard: the header is a button; Enter sorts ascending by amount, on the server.
    await amountHeader.getByRole('button').focus();
    await page.keyboard.press('Enter');
    await topups.locator('th[aria-sort=ascending]', { hasText: 'Amount' }).waitFor();
    const up = await amountsOf(topups, 4);
    assert.deepEqual(up, [...up].sort((a, b) => a - b));
    assert.ok(asked.some((u) => /\/account\/v1\/topups\?sort=amount(&|$)/.test(u)), 'the sort went to the server');
    // The arrow turns with the rows: while the descending list is on its way (held 400 ms here),
    // the header still says ascending, as the rows on screen are.
    await page.route(/\/account\/v1\/topups\?sort=-amount/, async (route) => (await new Promise((r) => setTimeout(r, 400)), route.continue()));
    const sent = page.waitForRequest(/\/account\/v1\/topups\?sort=-amount/);
    await amountHeader.getByRole('button').click();
    await sent;
    assert.equal(await amountHeader.getAttribute('aria-sort'), 'ascending', 'no arrow before its rows');
    assert.deepEqual(await amountsOf(topups, 4), up);
    await topups.locator('th[aria-sort=descending]', { hasText: 'Amount' }).waitFor();
    await page.unroute(/\/account\/v1\/topups\?sort=-amount/);
    const down = await amountsOf(topups, 4);
    assert.deepEqual(down, [...up].reverse());
    assert.notDeepEqual(down, up, 'the order changed');

    // The refund: amount checked in the dialog, then a review step before money moves.
    await topups.getByRole('row', { name: /WIRE-2026-001/ }).getByRole('button', { name: 'Request refund' }).click();
    const dialog = page.getByRole('dialog', { name: 'Request a refund' });
    await dialog.waitFor();
    const field = dialog.getByLabel(/Amount to refund/);
    await field.fill('99999');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByRole('alert').getByText('At most $1234.56.').waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await field.fill('12.34');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await dialog.getByText('Ask to refund $12.34 of this top-up back to where it came from?').waitFor();
    await shoot(page, 'refund-dialog');
    await dialog.getByRole('button', { name: 'Request refund' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('table', { name: 'Refunds' }).getByRole('cell', { name: '$12.34' }).first().waitFor();
    const refunds = await g.admin('GET', `/admin/v1/refunds?account_id=${demoAccount}&status=pending`);
    assert.equal(refunds.data.filter((r: { amount: string }) => r.amount === '12.34').length, 1);

    // The request log sorts by cost from its header, keeping the range filter.
    await nav(page, 'Request log');
    const log = page.getByRole('table', { name: 'Request log' });
    await log.locator('tbody tr').nth(2).waitFor();
    await log.getByRole('columnheader', { name: /Cost/ }).getByRole('button').click();
    await log.locator('th[aria-sort=ascending]', { hasText: 'Cost' }).waitFor();
    const costs = await amountsOf(log, 8);
    assert.deepEqual(costs, [...costs].sort((a, b) => a - b));
    assert.ok(asked.some((u) => u.includes('/account/v1/logs?') && u.includes('sort=amount') && u.includes('from=')), 'sorted with the filter kept');
    assert.deepEqual(native, [], 'no window.prompt, alert or confirm');
    await page.close();
  });

  test('an operator adds a channel and tests it; declares an incident; the SLA and status pages load', async () => {
    const page = await signIn(operator, ADMIN_KEY);
    await nav(page, 'Channels');
    await page.getByText('Add a channel').click();
    const form = page.getByRole('form', { name: 'Add a channel' });
    await form.getByLabel('Name', { exact: true }).fill('browser-sim');
    await form.getByLabel('Base URL').fill(g.s.sim!.url);
    await form.getByLabel('Upstream key').fill('sim-browser-key');
    await form.getByLabel('Models').fill('gpt-4o-mini');
    await form.getByRole('button', { name: 'Add channel' }).click();
    await page.getByRole('button', { name: 'Test browser-sim' }).click();
    await page.getByTestId('channel-test').getByText('browser-sim: test passed').waitFor();
    await shoot(page, 'operator-channels');
    const ch = (await g.admin('GET', '/admin/v1/channels')).data.find((c: { name: string }) => c.name === 'browser-sim');
    assert.ok(ch.usable);

    // The guarantee pages that have landed: the findings queue and incidents.
    await nav(page, 'Findings');
    await page.getByRole('heading', { name: 'Findings' }).waitFor();
    await nav(page, 'Incidents');
    await page.getByText('Declare an incident').click();
    await page.getByLabel('Title').fill('Elevated errors on gpt-4o-mini');
    await page.getByLabel('Attribution').selectOption('platform');
    await page.getByRole('button', { name: 'Declare', exact: true }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Declare' }).click();
    await page.getByRole('dialog').getByRole('heading', { name: /Elevated errors on gpt-4o-mini/ }).waitFor();
    await page.getByRole('button', { name: 'Preview affected requests and credits' }).click();
    await page.getByRole('dialog').getByText('To credit').first().waitFor();
    assert.equal(await page.getByRole('dialog').locator('.error').count(), 0);
    await page.keyboard.press('Escape');
    for (const [link, heading] of [['SLA contracts', 'SLA contracts'], ['Status overrides', 'Status overrides']] as const) {
      await nav(page, link);
      await page.getByRole('heading', { name: heading }).waitFor();
      await page.locator('.table-wrap, .empty').first().waitFor();
      assert.equal(await page.locator('.error').count(), 0, `${link}: no error`);
    }
    const incidents = await g.admin('GET', '/admin/v1/incidents');
    assert.equal(incidents.data.filter((i: { title: string; attribution: string }) => i.title === 'Elevated errors on gpt-4o-mini' && i.attribution === 'platform').length, 1);
    await page.close();
  });
});
