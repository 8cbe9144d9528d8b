import { useMemo, useState } from 'preact/hooks';
import { api, idempotent } from '../api.ts';
import { type ListState, useList } from '../list.ts';
import { Pager, ErrorBox, Field, Load, Money, Status, Table, Time, confirmAction, useAction, useApp, useGet, useLocale, useT } from '../ui.tsx';
import { StackedBars } from '../chart.tsx';
import { count, money, qs, tzOffsetMinutes } from '../lib/format.ts';
import { lastDays, pivotDaily } from '../lib/chart.ts';
import { Card } from './overview.tsx';
import { Keys } from './keys.tsx';
import { Members } from './members.tsx';
import { Statement } from './billing.tsx';

/** Traffic, errors by outcome, channel health and circuit state, revenue per day. */
export function Dashboard() {
  const t = useT();
  const locale = useLocale();
  const r = useGet(`/admin/v1/dashboard${qs({ days: 14, tz_offset_minutes: tzOffsetMinutes() })}`);
  const ch = useGet<{ data: any[] }>('/admin/v1/channels');
  return (
    <section>
      <h1>{t('Dashboard')}</h1>
      <Load r={r}>
        {(d: any) => {
          const total = d.daily.reduce((s: number, x: any) => s + x.requests, 0);
          const failed = d.daily.reduce((s: number, x: any) => s + x.upstream_faults + x.platform_faults, 0);
          const span = lastDays(14);
          const faults: Array<[string, string]> = [['ok', t('OK')], ['client_faults', t('Client errors')], ['upstream_faults', t('Upstream errors')], ['platform_faults', t('Platform errors')]];
          const traffic = pivotDaily(d.daily.flatMap((x: any) => faults.map(([k, label]) => ({ day: x.group, model: label, spend: String(x[k]), requests: 0 }))), ...span);
          const revenue = pivotDaily(d.daily.map((x: any) => ({ day: x.group, model: t('Revenue'), spend: x.spend, requests: x.requests })), ...span);
          return (
            <>
              <div class="cards">
                <Card label={t('Requests (14 days)')} value={count(total, locale)} />
                <Card label={t('Upstream and platform errors')} value={count(failed, locale)} />
                <Card label={t('Active accounts')} value={count(d.active_accounts, locale)} />
                <Card label={t('Revenue today')} value={<Money v={d.daily.at(-1)?.spend ?? '0.00'} />} />
              </div>
              <div class="two">
                <div class="card"><h2>{t('Traffic per day')}</h2>{d.daily.length ? <StackedBars pivot={traffic} unit="n" label={t('Traffic per day')} /> : <p class="empty">{t('No requests in this period.')}</p>}</div>
                <div class="card"><h2>{t('Revenue per day')}</h2>{d.daily.length ? <StackedBars pivot={revenue} label={t('Revenue per day')} /> : <p class="empty">{t('No requests in this period.')}</p>}</div>
              </div>
              <h2>{t('Requests by outcome')}</h2>
              <Table caption={t('Requests by outcome')} rows={d.outcomes} rowKey={(x: any) => x.outcome} columns={[{ key: 'outcome', label: t('Outcome'), render: (x: any) => <Status s={x.outcome} /> }, { key: 'requests', label: t('Requests'), num: true }]} />
            </>
          );
        }}
      </Load>
      <h2>{t('Channels')}</h2>
      <Load r={ch}>{(c) => <ChannelHealth rows={c.data} />}</Load>
    </section>
  );
}

export function ChannelHealth({ rows, actions, list }: { rows: any[]; actions?: (c: any) => any; list?: ListState<unknown> }) {
  const t = useT();
  return (
    <Table
      caption={t('Channels')}
      rows={rows}
      {...list?.table}
      columns={[
        { key: 'name', sortable: true, label: t('Name') },
        { key: 'provider', sortable: true, label: t('Provider') },
        { key: 'priority', sortable: true, label: t('Priority'), num: true },
        { key: 'base_url', label: t('Base URL'), render: (c: any) => <code class="small">{c.base_url}</code> },
        { key: 'models', label: t('Models'), render: (c: any) => c.models.join(', ') },
        { key: 'enabled', sortable: true, label: t('Enabled'), render: (c: any) => (c.enabled ? t('yes') : t('no')) },
        { key: 'usable', label: t('Usable'), render: (c: any) => (c.usable ? t('yes') : <span title={c.unusable_reason}>{t('no')}</span>) },
        { key: 'health', label: t('Circuit'), render: (c: any) => <Status s={typeof c.health === 'string' ? c.health : (c.health?.state ?? 'closed')} /> },
        ...(actions ? [{ key: 'a', label: t('Actions'), render: actions }] : []),
      ]}
    />
  );
}

/** Accounts: search, create; each opens its detail page. */
export function Accounts() {
  const t = useT();
  const { navigate } = useApp();
  const [q, setQ] = useState('');
  // Searching answers the best matches; the full list sorts and pages on the server.
  const list = useList(q ? null : '/admin/v1/accounts', {}, '-created_at');
  const search = useGet(q ? `/admin/v1/accounts/search${qs({ q })}` : null);
  const r = q ? search : list.r;
  const [f, setF] = useState({ name: '', kind: 'enterprise', email: '' });
  const create = useAction(async () => {
    const a = await api('POST', '/admin/v1/accounts', { name: f.name, kind: f.kind, ...(f.email ? { email: f.email } : {}) });
    navigate(`/op/accounts/${a.id}`);
  });
  return (
    <section>
      <h1>{t('Accounts')}</h1>
      <div class="row wrap filters">
        <Field label={t('Search')}><input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value.trim())} placeholder={t('name, e-mail or id')} /></Field>
      </div>
      <details class="card">
        <summary>{t('Create an account')}</summary>
        <form class="row wrap" onSubmit={(e) => (e.preventDefault(), create.run())}>
          <Field label={t('Name')}><input required value={f.name} onInput={(e) => setF({ ...f, name: (e.target as HTMLInputElement).value })} /></Field>
          <Field label={t('Kind')}><select value={f.kind} onChange={(e) => setF({ ...f, kind: (e.target as HTMLSelectElement).value })}><option value="enterprise">{t('enterprise')}</option><option value="individual">{t('individual')}</option></select></Field>
          <Field label={t('E-mail')}><input type="email" value={f.email} onInput={(e) => setF({ ...f, email: (e.target as HTMLInputElement).value })} /></Field>
          <button type="submit" class="primary" disabled={create.busy}>{t('Create')}</button>
          <ErrorBox error={create.error} />
        </form>
      </details>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table
              caption={t('Accounts')}
              rows={d.data}
              onRow={(a: any) => navigate(`/op/accounts/${a.id}`)}
              {...(q ? {} : list.table)}
              columns={[
                { key: 'name', sortable: true, label: t('Name') },
                { key: 'id', sortable: true, label: 'ID', render: (a: any) => <code>{a.id}</code> },
                { key: 'kind', sortable: true, label: t('Kind'), render: (a: any) => t(a.kind) },
                { key: 'email', sortable: true, label: t('E-mail') },
                { key: 'group', sortable: true, label: t('Group') },
                { key: 'status', sortable: true, label: t('Status'), render: (a: any) => <Status s={a.status} /> },
                { key: 'created_at', sortable: true, label: t('Created'), render: (a: any) => <Time iso={a.created_at} /> },
              ]}
            />
            {!q ? <Pager {...list.pager} /> : null}
          </>
        )}
      </Load>
    </section>
  );
}

/** One account: balance, settings (group, credit line, status), record a bank transfer, credits, keys, members, ledger. */
export function AccountDetail({ id }: { id: string }) {
  const t = useT();
  const a = useGet(`/admin/v1/accounts/${id}`);
  const bal = useGet(`/admin/v1/accounts/${id}/balance`);
  const [tab, setTab] = useState('money');
  const base = `/admin/v1/accounts/${id}`;
  return (
    <section>
      <Load r={a}>
        {(acct: any) => (
          <>
            <h1>{acct.name} <Status s={acct.status} /></h1>
            <p class="muted"><code>{acct.id}</code> · {t(acct.kind)} · {acct.email ?? '—'} · {t('group')} {acct.group}</p>
          </>
        )}
      </Load>
      <Load r={bal}>
        {(b: any) => (
          <div class="cards">
            <Card label={t('Available')} value={<Money v={b.available} />} testid="op-available" />
            <Card label={t('Paid')} value={<Money v={b.paid} />} />
            <Card label={t('Granted')} value={<Money v={b.granted} />} />
            <Card label={t('Held')} value={<Money v={b.held} />} />
            <Card label={t('Credit line')} value={<Money v={b.credit_line} />} />
          </div>
        )}
      </Load>
      <div class="tabs" role="tablist">
        {[['money', t('Money')], ['settings', t('Settings')], ['keys', t('Keys')], ['members', t('Members')], ['ledger', t('Ledger')]].map(([k, l]) => (
          <button type="button" role="tab" key={k} aria-selected={tab === k} class={tab === k ? 'active' : ''} onClick={() => setTab(k!)}>{l}</button>
        ))}
      </div>
      {tab === 'money' ? <MoneyActions id={id} onDone={() => bal.reload()} /> : null}
      {tab === 'settings' && a.data ? <Settings acct={a.data} onDone={() => (a.reload(), bal.reload())} /> : null}
      {tab === 'keys' ? <Keys base={base} /> : null}
      {tab === 'members' ? <Members base={base} /> : null}
      {tab === 'ledger' ? <Statement base={base} /> : null}
    </section>
  );
}

function MoneyActions({ id, onDone }: { id: string; onDone: () => void }) {
  const t = useT();
  const topupList = useList<{ data: any[] }>(`/admin/v1/accounts/${id}/topups`, {}, '-created_at');
  const topups = topupList.r;
  const [f, setF] = useState({ amount: '', method: 'bank_transfer', reference: '', contract_number: '', bonus: '', note: '' });
  // One idempotency key per form: a double click or a retry records the payment once.
  const idem = useMemo(() => crypto.randomUUID(), [f.amount, f.reference, f.method]);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const record = useAction(async () => {
    if (!(await confirmAction(t('Record a {method} top-up of {amount} (reference {ref})?', { method: f.method, amount: money(f.amount), ref: f.reference || '—' }), t('Record top-up')))) return;
    const body: Record<string, unknown> = { amount: f.amount, method: f.method };
    for (const k of ['reference', 'contract_number', 'bonus', 'note'] as const) if (f[k]) body[k] = f[k];
    await idempotent(`/admin/v1/accounts/${id}/topups`, body, idem);
    setF({ ...f, amount: '', reference: '', contract_number: '', bonus: '', note: '' });
    topups.reload();
    onDone();
  });
  const [credit, setCredit] = useState({ amount: '', memo: '' });
  const creditIdem = useMemo(() => crypto.randomUUID(), [credit.amount, credit.memo]);
  const grant = useAction(async () => {
    if (!(await confirmAction(t('Grant a credit of {amount}?', { amount: money(credit.amount) }), t('Grant credit')))) return;
    await idempotent(`/admin/v1/accounts/${id}/credits`, credit, creditIdem);
    setCredit({ amount: '', memo: '' });
    onDone();
  });
  return (
    <>
      <form class="grid card" onSubmit={(e) => (e.preventDefault(), record.run())} aria-label={t('Record a top-up')}>
        <h2>{t('Record a top-up')}</h2>
        <Field label={t('Amount (USD)')}><input name="amount" required inputMode="decimal" value={f.amount} onInput={set('amount')} /></Field>
        <Field label={t('Method')}>
          <select name="method" value={f.method} onChange={set('method')}><option value="bank_transfer">{t('bank transfer')}</option><option value="card">{t('card')}</option><option value="other">{t('other')}</option></select>
        </Field>
        <Field label={t('Reference')}><input name="reference" required={f.method === 'bank_transfer'} value={f.reference} onInput={set('reference')} /></Field>
        <Field label={t('Contract number')}><input name="contract_number" value={f.contract_number} onInput={set('contract_number')} /></Field>
        <Field label={t('Bonus (USD)')}><input name="bonus" inputMode="decimal" value={f.bonus} onInput={set('bonus')} /></Field>
        <Field label={t('Note')}><input name="note" value={f.note} onInput={set('note')} /></Field>
        <ErrorBox error={record.error} />
        <div><button type="submit" class="primary" disabled={record.busy}>{t('Record top-up')}</button></div>
      </form>
      <form class="row wrap card" onSubmit={(e) => (e.preventDefault(), grant.run())}>
        <Field label={t('Goodwill credit (USD)')}><input required inputMode="decimal" value={credit.amount} onInput={(e) => setCredit({ ...credit, amount: (e.target as HTMLInputElement).value })} /></Field>
        <Field label={t('Why')}><input required value={credit.memo} onInput={(e) => setCredit({ ...credit, memo: (e.target as HTMLInputElement).value })} /></Field>
        <button type="submit" class="primary" disabled={grant.busy}>{t('Grant credit')}</button>
        <ErrorBox error={grant.error} />
      </form>
      <h2>{t('Top-ups')}</h2>
      <Load r={topups}>
        {(d) => (
          <>
          <Table caption={t('Top-ups')} rows={d.data} {...topupList.table} columns={[
            { key: 'created_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
            { key: 'method', sortable: true, label: t('Method') },
            { key: 'reference', label: t('Reference') },
            { key: 'contract_number', label: t('Contract number') },
            { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
            { key: 'bonus', sortable: true, label: t('Bonus'), num: true, render: (x: any) => <Money v={x.bonus} /> },
          ]} />
          <Pager {...topupList.pager} />
          </>
        )}
      </Load>
    </>
  );
}

function Settings({ acct, onDone }: { acct: any; onDone: () => void }) {
  const t = useT();
  const [f, setF] = useState({ group: acct.group, credit_line: acct.credit_line ?? '0.00', status: acct.status });
  const save = useAction(async () => {
    if (!(await confirmAction(t('Save these account settings?'), t('Save')))) return;
    await api('PATCH', `/admin/v1/accounts/${acct.id}`, f);
    onDone();
  });
  return (
    <form class="grid card" onSubmit={(e) => (e.preventDefault(), save.run())}>
      <Field label={t('Group')}><input value={f.group} onInput={(e) => setF({ ...f, group: (e.target as HTMLInputElement).value })} /></Field>
      <Field label={t('Credit line (USD)')}><input inputMode="decimal" value={f.credit_line} onInput={(e) => setF({ ...f, credit_line: (e.target as HTMLInputElement).value })} /></Field>
      <Field label={t('Status')}>
        <select value={f.status} onChange={(e) => setF({ ...f, status: (e.target as HTMLSelectElement).value })}>{['active', 'suspended', 'closed'].map((s) => <option key={s} value={s}>{t(s)}</option>)}</select>
      </Field>
      <ErrorBox error={save.error} />
      <div><button type="submit" class="primary" disabled={save.busy}>{t('Save')}</button></div>
    </form>
  );
}
