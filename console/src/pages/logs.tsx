import { useState } from 'preact/hooks';
import { OUTCOMES, OUTCOME_NAMES, type Outcome } from '../../../src/requests/outcomes.ts';
import { api } from '../api.ts';
import { useList } from '../list.ts';
import { askFor, Drawer, ErrorBox, Field, Json, Load, Money, Pager, Status, Table, Time, useAction, useGet, useT } from '../ui.tsx';
import { money, qs } from '../lib/format.ts';
import { RangePicker, boundsOf } from './usage.tsx';
import type { Range } from '../lib/format.ts';

/** The request log: filters, server paging, a detail drawer, and the uniform export (CSV, NDJSON, manifest). */
export function Logs({ base = '/account/v1', operator = false, accountId }: { base?: string; operator?: boolean; accountId?: string }) {
  const t = useT();
  const [range, setRange] = useState<{ range: Range; from: string; to: string }>({ range: '7d', from: '', to: '' });
  const [model, setModel] = useState('');
  const [outcome, setOutcome] = useState('');
  const [keyId, setKeyId] = useState('');
  const [account, setAccount] = useState(accountId ?? '');
  const [open, setOpen] = useState<any>(null);
  const filter = { ...boundsOf(range), model: model || undefined, outcome: outcome || undefined, key_id: keyId || undefined, account_id: operator ? account || undefined : undefined };
  const list = useList(`${base}/logs`, filter, '-started_at');
  const r = list.r;
  return (
    <section>
      <h1>{t('Request log')}</h1>
      <form class="row wrap filters" onSubmit={(e) => e.preventDefault()}>
        <RangePicker value={range} onChange={(v) => setRange(v)} />
        <Field label={t('Model')}><input value={model} onChange={(e) => setModel((e.target as HTMLInputElement).value.trim())} /></Field>
        <Field label={t('Outcome')}>
          <select value={outcome} onChange={(e) => setOutcome((e.target as HTMLSelectElement).value)}>
            <option value="">{t('Any')}</option>
            {OUTCOME_NAMES.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </Field>
        <Field label={t('Key id')}><input value={keyId} onChange={(e) => setKeyId((e.target as HTMLInputElement).value.trim())} /></Field>
        {operator ? <Field label={t('Account id')}><input value={account} onChange={(e) => setAccount((e.target as HTMLInputElement).value.trim())} /></Field> : null}
      </form>
      <div class="row wrap">
        <span class="muted small">{t('Export every matching row:')}</span>
        <a class="button ghost" href={`${base}/logs${qs({ ...filter, format: 'csv' })}`} download>CSV</a>
        <a class="button ghost" href={`${base}/logs${qs({ ...filter, format: 'ndjson' })}`} download>NDJSON</a>
        <a class="button ghost" href={`${base}/logs/manifest${qs(filter)}`} target="_blank" rel="noopener">{t('Manifest')}</a>
      </div>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table
              caption={t('Request log')}
              rows={d.data}
              onRow={setOpen}
              {...list.table}
              columns={[
                { key: 'started_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.started_at} /> },
                ...(operator ? [{ key: 'account_id', label: t('Account'), render: (x: any) => <code>{x.account_id ?? '—'}</code> }] : []),
                { key: 'model', sortable: true, label: t('Model') },
                { key: 'endpoint', sortable: true, label: t('Endpoint') },
                { key: 'outcome', sortable: true, label: t('Outcome'), render: (x: any) => <Status s={x.outcome} /> },
                { key: 'status', sortable: true, label: t('Status'), num: true },
                { key: 'duration_ms', sortable: true, label: t('ms'), num: true },
                { key: 'amount', sortable: true, label: t('Cost'), num: true, render: (x: any) => <Money v={x.amount} /> },
              ]}
              empty={t('No requests match.')}
            />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
      {open ? <LogDetail row={open} base={base} onClose={() => setOpen(null)} customer={!operator} /> : null}
    </section>
  );
}

export function LogDetail({ row, base, onClose, customer = false }: { row: any; base: string; onClose: () => void; customer?: boolean }) {
  const t = useT();
  const cost = useGet(`${base}/logs/${encodeURIComponent(row.id)}/cost`);
  const meaning = OUTCOMES[row.outcome as Outcome];
  const [disputed, setDisputed] = useState<string | null>(null);
  // A customer who thinks a charge is wrong disputes it: the detection rules run on it at once.
  const dispute = useAction(async () => {
    const reason = await askFor({ title: t('Dispute this charge'), label: t('Why is this charge wrong?'), input: 'textarea', submit: t('Dispute') });
    if (!reason) return;
    const d = await api('POST', '/account/v1/disputes', { request_ids: [row.id], reason });
    setDisputed(d.status ?? 'open');
  });
  return (
    <Drawer title={t('Request {id}', { id: row.id })} onClose={onClose}>
      <dl class="kv">
        <dt>{t('Outcome')}</dt>
        <dd><Status s={row.outcome} /> {meaning ? <span>{meaning.meaning} <span class="muted">({t('fault')}: {meaning.fault}; {t('billed')}: {meaning.billed})</span></span> : null}</dd>
        {row.error_code ? (<><dt>{t('Error')}</dt><dd><code>{row.error_code}</code> {row.error}</dd></>) : null}
        <dt>{t('Model')}</dt><dd>{row.model ?? '—'} {row.upstream_model ? <span class="muted">→ {row.upstream_model}</span> : null}</dd>
        <dt>{t('Endpoint')}</dt><dd>{row.provider} · {row.endpoint}{row.stream ? ` · ${t('stream')}` : ''}</dd>
        <dt>{t('Started')}</dt><dd><Time iso={row.started_at} /></dd>
        <dt>{t('Duration')}</dt><dd>{row.duration_ms} ms{row.first_byte_at ? '' : ''}</dd>
        <dt>{t('Key')}</dt><dd><code>{row.key_id ?? '—'}</code></dd>
        <dt>{t('Cost')}</dt>
        <dd>
          <Money v={row.amount} /> <span class="muted">({t('held before the call')}: <Money v={row.hold} />; {t('price version')} {row.price_version ?? '—'}{row.usage_estimated ? `; ${t('usage estimated')}` : ''})</span>
        </dd>
      </dl>
      <h3>{t('Cost breakdown')}</h3>
      <Load r={cost}>
        {(c: any) => (
          <>
            <Table rows={c.lines} rowKey={(l: any) => l.component} empty={t('Nothing priced (not billed, or no usage).')} columns={[
              { key: 'component', label: t('Component') },
              { key: 'quantity', label: t('Quantity'), num: true },
              { key: 'rate', label: t('Rate'), num: true, render: (l: any) => <span>{money(l.rate)} <span class="muted small">{l.unit === 'per_mtok' ? t('per 1M') : l.unit === 'per_image' ? t('per image') : t('per request')}</span></span> },
              { key: 'amount', label: t('Amount'), num: true, render: (l: any) => money(l.amount) },
            ]} />
            <p class="num">{t('Subtotal')} {money(c.subtotal)} · {t('Charged')} <strong><Money v={c.charged} /></strong></p>
          </>
        )}
      </Load>
      <h3>{t('Attempts')}</h3>
      <Table
        rows={(row.attempts ?? []).map((a: any, i: number) => ({ ...a, n: i + 1 }))}
        rowKey={(a: any) => String(a.n)}
        columns={[
          { key: 'n', label: '#', num: true },
          { key: 'channel', label: t('Channel') },
          { key: 'status', label: t('Status'), num: true },
          { key: 'outcome', label: t('Outcome'), render: (a: any) => <Status s={a.outcome} /> },
          { key: 'ms', label: t('ms'), num: true },
          { key: 'error', label: t('Error') },
        ]}
        empty={t('No upstream attempt (refused before the call).')}
      />
      <h3>{t('Billable usage')}</h3>
      <Json v={row.usage_billable} />
      <h3>{t('Raw usage (as the upstream reported it)')}</h3>
      <Json v={row.usage_raw} />
      {row.delivered ? (<><h3>{t('Delivered')}</h3><Json v={row.delivered} /></>) : null}
      {customer && row.amount !== '0.00' && !/^0(\.0+)?$/.test(row.amount) ? (
        <div class="row">
          <button type="button" class="ghost" onClick={() => dispute.run()} disabled={dispute.busy || disputed !== null}>{t('Dispute this charge')}</button>
          {disputed ? <span class="muted">{t('Disputed: see Abnormal charges.')}</span> : null}
        </div>
      ) : null}
      <ErrorBox error={dispute.error} />
    </Drawer>
  );
}

export function LogsPage() {
  return <Logs />;
}

export function OperatorLogs() {
  return <Logs base="/admin/v1" operator />;
}

