import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { CopyButton, Drawer, ErrorBox, Field, Json, Load, Money, Pager, Status, Table, Time, confirmAction, useAction, useGet, useT } from '../ui.tsx';
import { money } from '../lib/format.ts';
import { NoticeTable, RefundTable } from './billing.tsx';
import { ChannelHealth } from './operator.tsx';
import { useList } from '../list.ts';

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

/** The queues: transfer notices to confirm, refunds to approve. */
export function Queues() {
  const t = useT();
  const [status, setStatus] = useState('pending');
  const noticeList = useList<{ data: any[] }>('/admin/v1/transfer-notices', { status }, '-created_at');
  const notices = noticeList.r;
  const refundList = useList<{ data: any[] }>('/admin/v1/refunds', { status }, '-created_at');
  const refunds = refundList.r;
  const decide = useAction(async (kind: 'notice' | 'refund', x: any, verb: 'confirm' | 'reject' | 'approve') => {
    const msg = verb === 'reject'
      ? t('Reject this request? No money moves.')
      : kind === 'notice'
        ? t('Confirm the transfer of {amount} from {payer} (reference {ref})? The top-up is recorded.', { amount: money(x.amount), payer: x.payer, ref: x.reference })
        : t('Approve the refund of {amount}? The payout is {payout}.', { amount: money(x.amount), payout: money(x.payout_estimate) });
    if (!(await confirmAction(msg, verb === 'reject' ? t('Reject') : verb === 'confirm' ? t('Confirm') : t('Approve')))) return;
    await api('POST', kind === 'notice' ? `/admin/v1/transfer-notices/${x.id}/${verb}` : `/admin/v1/refunds/${x.id}/${verb}`, {});
    notices.reload();
    refunds.reload();
  });
  const buttons = (kind: 'notice' | 'refund') => (x: any) =>
    x.status === 'pending' ? (
      <span class="row">
        <button type="button" class="primary small" onClick={() => decide.run(kind, x, kind === 'notice' ? 'confirm' : 'approve')}>{kind === 'notice' ? t('Confirm') : t('Approve')}</button>
        <button type="button" class="ghost small" onClick={() => decide.run(kind, x, 'reject')}>{t('Reject')}</button>
      </span>
    ) : null;
  return (
    <section>
      <h1>{t('Queues')}</h1>
      <Field label={t('Status')}>
        <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="pending">{t('pending')}</option><option value="">{t('all')}</option>
        </select>
      </Field>
      <ErrorBox error={decide.error} />
      <h2>{t('Bank transfer notices')}</h2>
      <Load r={notices}>{(d) => <NoticeTable rows={d.data} base="/admin/v1" actions={buttons('notice')} list={noticeList} />}</Load>
      <h2>{t('Refunds')}</h2>
      <Load r={refunds}>{(d) => <RefundTable rows={d.data} actions={buttons('refund')} list={refundList} />}</Load>
    </section>
  );
}

/** Redemption batches: generate (codes shown once), see how many were redeemed. */
export function Redemption() {
  const t = useT();
  const batches = useList<{ data: any[] }>('/admin/v1/redemption-batches', {}, '-created_at');
  const r = batches.r;
  const [f, setF] = useState({ count: '10', amount: '', bucket: 'granted', note: '' });
  const [codes, setCodes] = useState<string[] | null>(null);
  const make = useAction(async () => {
    if (!(await confirmAction(t('Generate {n} codes of {amount} each?', { n: f.count, amount: money(f.amount) }), t('Generate')))) return;
    const b = await api('POST', '/admin/v1/redemption-batches', { count: Number(f.count), amount: f.amount, bucket: f.bucket, ...(f.note ? { note: f.note } : {}) });
    setCodes(b.codes ?? []);
    r.reload();
  });
  return (
    <section>
      <h1>{t('Redemption codes')}</h1>
      {codes ? (
        <div class="card success" role="status">
          <p>{t('The codes (shown once):')}</p>
          <pre class="json">{codes.join('\n')}</pre>
          <CopyButton text={codes.join('\n')} />
        </div>
      ) : null}
      <form class="row wrap card" onSubmit={(e) => (e.preventDefault(), make.run())}>
        <Field label={t('Count')}><input type="number" min={1} max={10000} required value={f.count} onInput={(e) => setF({ ...f, count: (e.target as HTMLInputElement).value })} /></Field>
        <Field label={t('Amount (USD)')}><input required inputMode="decimal" value={f.amount} onInput={(e) => setF({ ...f, amount: (e.target as HTMLInputElement).value })} /></Field>
        <Field label={t('Bucket')}><select value={f.bucket} onChange={(e) => setF({ ...f, bucket: (e.target as HTMLSelectElement).value })}><option value="granted">granted</option><option value="paid">paid</option></select></Field>
        <Field label={t('Note')}><input value={f.note} onInput={(e) => setF({ ...f, note: (e.target as HTMLInputElement).value })} /></Field>
        <button type="submit" class="primary" disabled={make.busy}>{t('Generate')}</button>
        <ErrorBox error={make.error} />
      </form>
      <Load r={r}>
        {(d) => (
          <>
          <Table caption={t('Redemption codes')} rows={d.data} {...batches.table} columns={[
            { key: 'created_at', sortable: true, label: t('Created'), render: (x: any) => <Time iso={x.created_at} /> },
            { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
            { key: 'count', sortable: true, label: t('Count'), num: true },
            { key: 'redeemed', sortable: true, label: t('Redeemed'), num: true },
            { key: 'bucket', label: t('Bucket') },
            { key: 'expires_at', sortable: true, label: t('Expires'), render: (x: any) => <Time iso={x.expires_at} /> },
            { key: 'note', label: t('Note') },
          ]} />
          <Pager {...batches.pager} />
          </>
        )}
      </Load>
    </section>
  );
}

/** Channels: create, enable/disable, test with one small request, delete; health and circuit state. */
export function Channels() {
  const t = useT();
  const channels = useList<{ data: any[] }>('/admin/v1/channels', {}, '', null);
  const r = channels.r;
  const [f, setF] = useState({ name: '', provider: 'openai', base_url: '', key: '', models: '', priority: '0' });
  const [result, setResult] = useState<any>(null);
  const [editing, setEditing] = useState<any>(null);
  const create = useAction(async () => {
    await api('POST', '/admin/v1/channels', { name: f.name, provider: f.provider, base_url: f.base_url, keys: [f.key], models: list(f.models), priority: Number(f.priority) });
    setF({ ...f, name: '', key: '' });
    r.reload();
  });
  const act = useAction(async (c: any, what: 'test' | 'toggle' | 'delete') => {
    if (what === 'test') return setResult({ name: c.name, ...(await api('POST', `/admin/v1/channels/${c.id}/test`)) });
    if (what === 'delete' && !(await confirmAction(t('Delete the channel “{name}”? The data plane stops using it at once.', { name: c.name }), t('Delete')))) return;
    if (what === 'delete') await api('DELETE', `/admin/v1/channels/${c.id}`);
    else await api('PATCH', `/admin/v1/channels/${c.id}`, { enabled: !c.enabled });
    r.reload();
  });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  return (
    <section>
      <h1>{t('Channels')}</h1>
      <details class="card">
        <summary>{t('Add a channel')}</summary>
        <form class="grid" onSubmit={(e) => (e.preventDefault(), create.run())} aria-label={t('Add a channel')}>
          <Field label={t('Name')}><input name="name" required value={f.name} onInput={set('name')} /></Field>
          <Field label={t('Provider')}><select name="provider" value={f.provider} onChange={set('provider')}>{['openai', 'anthropic', 'gemini'].map((p) => <option key={p} value={p}>{p}</option>)}</select></Field>
          <Field label={t('Base URL')}><input name="base_url" type="url" required value={f.base_url} onInput={set('base_url')} placeholder="https://api.openai.com" /></Field>
          <Field label={t('Upstream key')} hint={t('Stored encrypted; or env:NAME to read it from the environment.')}><input name="key" type="password" autoComplete="off" required value={f.key} onInput={set('key')} /></Field>
          <Field label={t('Models')} hint={t('Comma-separated model ids.')}><input name="models" required value={f.models} onInput={set('models')} /></Field>
          <Field label={t('Priority')}><input name="priority" type="number" value={f.priority} onInput={set('priority')} /></Field>
          <ErrorBox error={create.error} />
          <div><button type="submit" class="primary" disabled={create.busy}>{t('Add channel')}</button></div>
        </form>
      </details>
      <ErrorBox error={act.error} />
      {result ? (
        <div class={`card ${result.ok ? 'success' : 'warn'}`} role="status" data-testid="channel-test">
          <strong>{result.name}: {result.ok ? t('test passed') : t('test failed')}</strong> — {t('status')} {result.status ?? '—'}, {result.ms} ms, {result.model}
          {result.error ? <pre class="json">{result.error}</pre> : null}
        </div>
      ) : null}
      <Load r={r}>
        {(d) => (
          <ChannelHealth rows={d.data} list={channels} actions={(c: any) => (
            <span class="row">
              <button type="button" class="ghost small" onClick={() => act.run(c, 'test')} aria-label={t('Test {name}', { name: c.name })}>{t('Test')}</button>
              <button type="button" class="ghost small" onClick={() => setEditing(c)}>{t('Edit')}</button>
              <button type="button" class="ghost small" onClick={() => act.run(c, 'toggle')}>{c.enabled ? t('Disable') : t('Enable')}</button>
              <button type="button" class="danger small" onClick={() => act.run(c, 'delete')}>{t('Delete')}</button>
            </span>
          )} />
        )}
      </Load>
      {editing ? <ChannelEditor channel={editing} onClose={() => (setEditing(null), r.reload())} /> : null}
    </section>
  );
}

/** Edit a channel: fields left as they are keep their value; a new key replaces the stored ones. */
function ChannelEditor({ channel, onClose }: { channel: any; onClose: () => void }) {
  const t = useT();
  const [f, setF] = useState({ base_url: channel.base_url, models: channel.models.join(', '), priority: String(channel.priority), weight: String(channel.weight), key: '' });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const save = useAction(async () => {
    const body: Record<string, unknown> = { base_url: f.base_url, models: list(f.models), priority: Number(f.priority), weight: Number(f.weight) };
    if (f.key) body.keys = [f.key];
    await api('PATCH', `/admin/v1/channels/${channel.id}`, body);
    onClose();
  });
  return (
    <Drawer title={t('Edit {name}', { name: channel.name })} onClose={onClose}>
      <form class="grid" onSubmit={(e) => (e.preventDefault(), save.run())}>
        <Field label={t('Base URL')}><input type="url" required value={f.base_url} onInput={set('base_url')} /></Field>
        <Field label={t('Models')} hint={t('Comma-separated model ids.')}><input required value={f.models} onInput={set('models')} /></Field>
        <Field label={t('Priority')}><input type="number" value={f.priority} onInput={set('priority')} /></Field>
        <Field label={t('Weight')}><input type="number" min={1} value={f.weight} onInput={set('weight')} /></Field>
        <Field label={t('New upstream key')} hint={t('Leave empty to keep the stored keys.')}><input type="password" autoComplete="off" value={f.key} onInput={set('key')} /></Field>
        <ErrorBox error={save.error} />
        <div><button type="submit" class="primary" disabled={save.busy}>{t('Save')}</button></div>
      </form>
    </Drawer>
  );
}

/** Models and the price book: current prices, each model's history, a new price (a new version). */
export function Models() {
  const t = useT();
  const models = useList<{ data: any[] }>('/admin/v1/models', {}, 'id', null);
  const r = models.r;
  const [open, setOpen] = useState<any>(null);
  return (
    <section>
      <h1>{t('Models and prices')}</h1>
      <Load r={r}>
        {(d) => (
          <Table caption={t('Models and prices')} rows={d.data} onRow={setOpen} {...models.table} columns={[
            { key: 'id', sortable: true, label: t('Model') },
            { key: 'provider', sortable: true, label: t('Provider') },
            { key: 'kind', sortable: true, label: t('Kind') },
            { key: 'price', label: t('Price'), render: (m: any) => <code class="small">{JSON.stringify(m.price)}</code> },
            { key: 'price_version', sortable: true, label: t('Version'), num: true },
            { key: 'channels', label: t('Channels'), render: (m: any) => m.channels.join(', ') || '—' },
            { key: 'enabled', label: t('Enabled'), render: (m: any) => (m.enabled ? t('yes') : t('no')) },
          ]} />
        )}
      </Load>
      {open ? <ModelDrawer model={open} onClose={() => (setOpen(null), r.reload())} /> : null}
    </section>
  );
}

function ModelDrawer({ model, onClose }: { model: any; onClose: () => void }) {
  const t = useT();
  const h = useGet<{ data: any[] }>(`/admin/v1/models/${encodeURIComponent(model.id)}/prices`);
  const [price, setPrice] = useState(JSON.stringify(model.price, null, 2));
  const save = useAction(async () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(price);
    } catch {
      throw new Error(t('The price is not valid JSON.'));
    }
    if (!(await confirmAction(t('Publish a new price version for {model}?', { model: model.id }), t('Publish')))) return;
    await api('PUT', `/admin/v1/models/${encodeURIComponent(model.id)}`, { provider: model.provider, kind: model.kind, price: parsed });
    h.reload();
  });
  return (
    <Drawer title={model.id} onClose={onClose}>
      <Field label={t('Price (JSON, USD decimal strings)')}><textarea rows={8} value={price} onInput={(e) => setPrice((e.target as HTMLTextAreaElement).value)} /></Field>
      <ErrorBox error={save.error} />
      <button type="button" class="primary" onClick={() => save.run()} disabled={save.busy}>{t('Publish new version')}</button>
      <h3>{t('Price history')}</h3>
      <Load r={h}>
        {(d) => <Table rows={d.data} rowKey={(v: any) => String(v.version)} columns={[
          { key: 'version', label: t('Version'), num: true },
          { key: 'price', label: t('Price'), render: (v: any) => <code class="small">{JSON.stringify(v.price)}</code> },
          { key: 'created_by', label: t('By') },
          { key: 'created_at', label: t('Time'), render: (v: any) => <Time iso={v.created_at} /> },
        ]} />}
      </Load>
    </Drawer>
  );
}

/** The audit log, newest first, filtered on the server. */
export function Audit() {
  const t = useT();
  const [f, setF] = useState({ account_id: '', action: '', target_type: '' });
  const list = useList('/admin/v1/audit', f, '-at');
  const r = list.r;
  const [open, setOpen] = useState<any>(null);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value.trim() });
  return (
    <section>
      <h1>{t('Audit log')}</h1>
      <div class="row wrap filters">
        <Field label={t('Account id')}><input value={f.account_id} onChange={set('account_id')} /></Field>
        <Field label={t('Action')}><input value={f.action} onChange={set('action')} placeholder="topup.record" /></Field>
        <Field label={t('Target type')}><input value={f.target_type} onChange={set('target_type')} /></Field>
      </div>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table caption={t('Audit log')} rows={d.data} onRow={setOpen} {...list.table} columns={[
              { key: 'at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.at} /> },
              { key: 'actor', sortable: true, label: t('Actor') },
              { key: 'action', sortable: true, label: t('Action') },
              { key: 'target_type', sortable: true, label: t('Target'), render: (x: any) => `${x.target_type} ${x.target_id}` },
              { key: 'account_id', sortable: true, label: t('Account') },
            ]} />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
      {open ? <Drawer title={open.action} onClose={() => setOpen(null)}><h3>{t('Before')}</h3><Json v={open.before} /><h3>{t('After')}</h3><Json v={open.after} /></Drawer> : null}
    </section>
  );
}

/** Ledger verification: every invariant, on demand. */
export function LedgerVerify() {
  const t = useT();
  const [report, setReport] = useState<any>(null);
  const run = useAction(async () => {
    try {
      setReport(await api('GET', '/admin/v1/ledger/verify'));
    } catch (e: any) {
      if (e.status === 409) setReport(e.body);
      else throw e;
    }
  });
  return (
    <section>
      <h1>{t('Ledger verification')}</h1>
      <p class="muted">{t('Checks every ledger invariant: entries sum to zero, balances match their entries, holds are consistent.')}</p>
      <button type="button" class="primary" onClick={() => run.run()} disabled={run.busy}>{run.busy ? t('Verifying…') : t('Verify now')}</button>
      <ErrorBox error={run.error} />
      {report ? <><p><Status s={report.ok ? 'ok' : 'failed'} /></p><Json v={report} /></> : null}
    </section>
  );
}

/** Operator accounts: create (with a password), disable. */
export function Operators() {
  const t = useT();
  const list = useList<{ data: any[] }>('/admin/v1/operators', {}, 'created_at');
  const r = list.r;
  const [f, setF] = useState({ email: '', name: '', password: '' });
  const create = useAction(async () => {
    await api('POST', '/admin/v1/operators', { email: f.email, password: f.password, ...(f.name ? { name: f.name } : {}) });
    setF({ email: '', name: '', password: '' });
    r.reload();
  });
  const disable = useAction(async (o: any) => {
    if (!(await confirmAction(t('Disable {email}? Their sessions end at once.', { email: o.email }), t('Disable')))) return;
    await api('POST', `/admin/v1/operators/${o.id}/disable`);
    r.reload();
  });
  return (
    <section>
      <h1>{t('Operators')}</h1>
      <form class="row wrap card" onSubmit={(e) => (e.preventDefault(), create.run())}>
        <Field label={t('E-mail')}><input type="email" required value={f.email} onInput={(e) => setF({ ...f, email: (e.target as HTMLInputElement).value })} /></Field>
        <Field label={t('Name')}><input value={f.name} onInput={(e) => setF({ ...f, name: (e.target as HTMLInputElement).value })} /></Field>
        <Field label={t('Password')}><input type="password" autoComplete="new-password" minLength={10} required value={f.password} onInput={(e) => setF({ ...f, password: (e.target as HTMLInputElement).value })} /></Field>
        <button type="submit" class="primary" disabled={create.busy}>{t('Create operator account')}</button>
        <ErrorBox error={create.error ?? disable.error} />
      </form>
      <Load r={r}>
        {(d) => (
          <>
          <Table caption={t('Operators')} rows={d.data} {...list.table} columns={[
            { key: 'email', sortable: true, label: t('E-mail') },
            { key: 'name', sortable: true, label: t('Name') },
            { key: 'created_at', sortable: true, label: t('Created'), render: (o: any) => <Time iso={o.created_at} /> },
            { key: 'disabled_at', sortable: true, label: t('Disabled'), render: (o: any) => <Time iso={o.disabled_at} /> },
            { key: 'a', label: t('Actions'), render: (o: any) => (o.disabled_at ? null : <button type="button" class="danger small" onClick={() => disable.run(o)}>{t('Disable')}</button>) },
          ]} />
          <Pager {...list.pager} />
          </>
        )}
      </Load>
    </section>
  );
}
