import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { useList, type ListState } from '../list.ts';
import { Pager, askFor, Drawer, ErrorBox, Field, Json, Load, Money, Status, Table, Time, confirmAction, useAction, useGet, useT } from '../ui.tsx';
import { qs } from '../lib/format.ts';

// SLA contracts (customers: their reports; operators: contracts, periods, closing a period) and the
// status page's overrides. Reports open as the contract module's printable page or its exports.

const thisMonth = () => new Date().toISOString().slice(0, 7);

/** A customer's SLA contracts: month-to-date availability against the target, past periods and their credits. */
export function CustomerSla() {
  const t = useT();
  const r = useGet<{ data: any[] }>('/account/v1/sla');
  return (
    <section>
      <h1>{t('SLA reports')}</h1>
      <Load r={r}>
        {(d) =>
          d.data.length === 0 ? (
            <p class="empty">{t('Your account has no SLA contract.')}</p>
          ) : (
            <>
              {d.data.map((k: any) => (
                <div class="card" key={k.contract.id}>
                  <h2>{k.contract.name}</h2>
                  <p>
                    {t('This month')}: <strong>{k.month_to_date.availability ?? '—'}</strong> {t('availability')} · {t('target')} {k.month_to_date.target}%{' '}
                    {k.month_to_date.target_met === false ? <Status s="failed" /> : k.month_to_date.target_met ? <Status s="ok" /> : null}
                  </p>
                  <div class="row wrap">
                    <a class="button ghost" href={`/account/v1/sla/${k.contract.id}/report${qs({ period: thisMonth(), format: 'html' })}`} target="_blank" rel="noopener">{t('Report')}</a>
                    <a class="button ghost" href={`/account/v1/sla/${k.contract.id}/report${qs({ period: thisMonth(), format: 'csv' })}`} download>CSV</a>
                  </div>
                  <h3>{t('Closed periods')}</h3>
                  <PeriodTable rows={k.past} />
                </div>
              ))}
            </>
          )
        }
      </Load>
    </section>
  );
}

function PeriodTable({ rows, list }: { rows: any[]; list?: ListState<unknown> }) {
  const t = useT();
  return (
    <>
    <Table rows={rows} rowKey={(p: any) => p.period} empty={t('No closed period yet.')} {...list?.table} columns={[
      { key: 'period', sortable: true, label: t('Period') },
      { key: 'availability', label: t('availability') },
      { key: 'credit_before_cap', sortable: true, label: t('Credit before cap'), num: true, render: (p: any) => <Money v={p.credit_before_cap} /> },
      { key: 'credit', sortable: true, label: t('Credit'), num: true, render: (p: any) => <Money v={p.credit} /> },
      { key: 'closed_at', sortable: true, label: t('Closed'), render: (p: any) => <Time iso={p.closed_at} /> },
    ]} />
    {list ? <Pager {...list.pager} /> : null}
    </>
  );
}

/** Operators: the contracts, one contract's terms and periods, closing a period (posts its capped credit once). */
export function Contracts() {
  const t = useT();
  const [account, setAccount] = useState('');
  const list = useList<{ data: any[] }>('/admin/v1/contracts', { account_id: account || undefined }, 'name');
  const r = list.r;
  const [open, setOpen] = useState<any>(null);
  const [terms, setTerms] = useState('');
  const sign = useAction(async () => {
    let body: unknown;
    try {
      body = JSON.parse(terms);
    } catch {
      throw new Error(t('The contract is not valid JSON.'));
    }
    await api('POST', '/admin/v1/contracts', body);
    setTerms('');
    r.reload();
  });
  return (
    <section>
      <h1>{t('SLA contracts')}</h1>
      <details class="card">
        <summary>{t('Sign a contract')}</summary>
        <p class="muted small">{t('The contract as JSON (account_id, name, terms), as the API takes it; see the README.')}</p>
        <Field label={t('Contract (JSON)')}><textarea rows={8} value={terms} onInput={(e) => setTerms((e.target as HTMLTextAreaElement).value)} /></Field>
        <ErrorBox error={sign.error} />
        <button type="button" class="primary" onClick={() => sign.run()} disabled={sign.busy || !terms}>{t('Sign')}</button>
      </details>
      <div class="row wrap filters">
        <Field label={t('Account id')}><input value={account} onChange={(e) => setAccount((e.target as HTMLInputElement).value.trim())} /></Field>
      </div>
      <Load r={r}>
        {(d) => (
          <>
          <Table caption={t('SLA contracts')} rows={d.data} onRow={setOpen} empty={t('No contracts yet.')} {...list.table} columns={[
            { key: 'name', sortable: true, label: t('Name') },
            { key: 'account_id', sortable: true, label: t('Account'), render: (k: any) => <code>{k.account_id}</code> },
            { key: 'target', label: t('target'), render: (k: any) => `${k.terms?.target_percent ?? '—'}%` },
            { key: 'version', label: t('Version'), num: true },
            { key: 'created_at', sortable: true, label: t('Created'), render: (k: any) => <Time iso={k.created_at} /> },
          ]} />
          <Pager {...list.pager} />
          </>
        )}
      </Load>
      {open ? <ContractDrawer contract={open} onClose={() => setOpen(null)} /> : null}
    </section>
  );
}

function ContractDrawer({ contract, onClose }: { contract: any; onClose: () => void }) {
  const t = useT();
  const periodList = useList<{ data: any[] }>(`/admin/v1/contracts/${contract.id}/periods`, {}, '-period');
  const periods = periodList.r;
  const [period, setPeriod] = useState(() => {
    const d = new Date();
    return new Date(d.getFullYear(), d.getMonth() - 1, 15).toISOString().slice(0, 7);
  });
  const close = useAction(async () => {
    if (!(await confirmAction(t('Close {period} of “{name}”? Its capped credit is posted once and the customer is told.', { period, name: contract.name }), t('Close period')))) return;
    await api('POST', `/admin/v1/contracts/${contract.id}/close`, { period });
    periods.reload();
  });
  return (
    <Drawer title={contract.name} onClose={onClose}>
      <div class="row wrap">
        <Field label={t('Period')}><input type="month" value={period} onInput={(e) => setPeriod((e.target as HTMLInputElement).value)} /></Field>
        <a class="button ghost" href={`/admin/v1/contracts/${contract.id}/report${qs({ period, format: 'html' })}`} target="_blank" rel="noopener">{t('Report')}</a>
        <button type="button" class="primary" onClick={() => close.run()} disabled={close.busy}>{t('Close period')}</button>
      </div>
      <ErrorBox error={close.error} />
      <h3>{t('Closed periods')}</h3>
      <Load r={periods}>{(d) => <PeriodTable rows={d.data} list={periodList} />}</Load>
      <h3>{t('Terms')}</h3>
      <Json v={contract.terms} />
    </Drawer>
  );
}

const COMPONENT_STATUSES = ['operational', 'under_maintenance', 'degraded_performance', 'partial_outage', 'major_outage'];

/** The status page's components, their live status, and overrides (until a time, or until cleared). */
export function StatusOverrides() {
  const t = useT();
  const list = useList<{ data: any[] }>('/admin/v1/status/components', {}, '', null);
  const r = list.r;
  const act = useAction(async (c: any, status: string | null) => {
    if (status === null) {
      await api('DELETE', `/admin/v1/status/components/${encodeURIComponent(c.id)}/override`);
    } else {
      const note = await askFor({
        title: t('Override {name}', { name: c.name }),
        label: t('A note for the override of {name} (optional)', { name: c.name }),
        required: false,
        submit: t('Continue'),
        review: () => ({ message: t('Show {name} as {status} on the public status page until cleared?', { name: c.name, status }), confirm: t('Override') }),
      });
      if (note === null) return;
      await api('PUT', `/admin/v1/status/components/${encodeURIComponent(c.id)}/override`, { status, ...(note ? { note } : {}) });
    }
    r.reload();
  });
  return (
    <section>
      <h1>{t('Status overrides')}</h1>
      <p><a href="/status" target="_blank" rel="noopener">{t('Open the public status page')}</a></p>
      <ErrorBox error={act.error} />
      <Load r={r}>
        {(d) => (
          <Table caption={t('Status overrides')} rows={d.data} empty={t('No components yet.')} {...list.table} columns={[
            { key: 'name', sortable: true, label: t('Name') },
            { key: 'status', sortable: true, label: t('Status'), render: (c: any) => <Status s={c.status} /> },
            { key: 'auto_status', sortable: true, label: t('Measured'), render: (c: any) => <Status s={c.auto_status ?? '—'} /> },
            { key: 'override', label: t('Override'), render: (c: any) => (c.override ? <span>{c.override.status} {c.override.note ? `· ${c.override.note}` : ''}</span> : '—') },
            {
              key: 'a', label: t('Actions'), render: (c: any) => (
                <span class="row">
                  <select aria-label={t('Override {name}', { name: c.name })} value="" onChange={(e) => { const v = (e.target as HTMLSelectElement).value; if (v) act.run(c, v); }}>
                    <option value="">{t('Override…')}</option>
                    {COMPONENT_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
                  </select>
                  {c.override ? <button type="button" class="ghost small" onClick={() => act.run(c, null)}>{t('Clear')}</button> : null}
                </span>
              ),
            },
          ]} />
        )}
      </Load>
    </section>
  );
}
