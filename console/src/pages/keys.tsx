import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { useList } from '../list.ts';
import { Pager, CopyButton, ErrorBox, Field, Load, Money, Status, Table, Time, confirmAction, useAction, useApp, useT } from '../ui.tsx';

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

/** Keys: create (with limits and allow-lists; the secret shown once, with a copy button), revoke. */
export function Keys({ base = '/account/v1' }: { base?: string }) {
  const t = useT();
  const { session } = useApp();
  const list = useList<{ data: any[] }>(`${base}/keys`, {}, 'created_at');
  const r = list.r;
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const canCreate = base !== '/account/v1' || session.role === 'admin' || session.role === 'owner';
  const revoke = useAction(async (k: any) => {
    if (!(await confirmAction(t('Revoke the key “{name}”? Requests with it fail at once.', { name: k.name }), t('Revoke')))) return;
    await api('DELETE', `${base}/keys/${k.id}`);
    r.reload();
  });
  return (
    <section>
      <h1>{t('API keys')}</h1>
      {secret ? (
        <div class="card success" role="status">
          <p><strong>{t('Your new key “{name}”. Copy it now: it is shown only once.', { name: secret.name })}</strong></p>
          <div class="row">
            <code class="secret" data-testid="new-key">{secret.key}</code>
            <CopyButton text={secret.key} />
            <button type="button" class="ghost" onClick={() => setSecret(null)}>{t('Done')}</button>
          </div>
        </div>
      ) : null}
      {canCreate ? <NewKey base={base} onCreated={(k) => (setSecret({ name: k.name, key: k.key }), r.reload())} /> : null}
      <ErrorBox error={revoke.error} />
      <Load r={r}>
        {(d) => (
          <>
          <Table
            caption={t('API keys')}
            rows={d.data}
            {...list.table}
            columns={[
              { key: 'name', sortable: true, label: t('Name') },
              { key: 'prefix', label: t('Prefix'), render: (k: any) => <code>{k.prefix}…</code> },
              { key: 'role', sortable: true, label: t('Role'), render: (k: any) => t(k.role) },
              { key: 'models', label: t('Models'), render: (k: any) => (k.models ? k.models.join(', ') : t('all')) },
              { key: 'limits', label: t('Limits'), render: (k: any) => <KeyLimits k={k} /> },
              { key: 'status', sortable: true, label: t('Status'), render: (k: any) => <Status s={k.status} /> },
              { key: 'created_at', sortable: true, label: t('Created'), render: (k: any) => <Time iso={k.created_at} /> },
              { key: 'actions', label: t('Actions'), render: (k: any) => (k.status === 'active' ? <button type="button" class="danger small" onClick={(e) => (e.stopPropagation(), revoke.run(k))}>{t('Revoke')}</button> : null) },
            ]}
          />
          <Pager {...list.pager} />
          </>
        )}
      </Load>
    </section>
  );
}

function KeyLimits({ k }: { k: any }) {
  const t = useT();
  const parts: any[] = [];
  if (k.rpm) parts.push(`${k.rpm} RPM`);
  if (k.tpm) parts.push(`${k.tpm} TPM`);
  if (k.limits?.day) parts.push(<span key="d">{t('day')} <Money v={k.limits.day} /></span>);
  if (k.limits?.month) parts.push(<span key="m">{t('month')} <Money v={k.limits.month} /></span>);
  if (k.limits?.total) parts.push(<span key="t">{t('total')} <Money v={k.limits.total} /></span>);
  if (k.ips) parts.push(`IP ${k.ips.join(', ')}`);
  if (k.expires_at) parts.push(<span key="e">{t('expires')} <Time iso={k.expires_at} /></span>);
  return parts.length ? <span class="small">{parts.map((p, i) => <span key={i}>{i ? ' · ' : ''}{p}</span>)}</span> : <span class="muted">{t('none')}</span>;
}

function NewKey({ base, onCreated }: { base: string; onCreated: (k: any) => void }) {
  const t = useT();
  const [f, setF] = useState({ name: '', models: '', ips: '', rpm: '', month: '', expires: '' });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const act = useAction(async () => {
    const body: Record<string, unknown> = { name: f.name };
    if (f.models.trim()) body.models = list(f.models);
    if (f.ips.trim()) body.ips = list(f.ips);
    if (f.rpm) body.rpm = Number(f.rpm);
    if (f.month) body.limits = { month: f.month };
    if (f.expires) body.expires_at = new Date(f.expires).toISOString();
    onCreated(await api('POST', `${base}/keys`, body));
    setF({ name: '', models: '', ips: '', rpm: '', month: '', expires: '' });
  });
  return (
    <details class="card">
      <summary>{t('Create a key')}</summary>
      <form class="grid" onSubmit={(e) => (e.preventDefault(), act.run())}>
        <Field label={t('Name')}><input name="name" required value={f.name} onInput={set('name')} /></Field>
        <Field label={t('Model allow-list')} hint={t('Comma-separated; empty allows every model.')}><input name="models" value={f.models} onInput={set('models')} placeholder="gpt-4o-mini, claude-sonnet-4-5" /></Field>
        <Field label={t('IP allow-list')} hint={t('Addresses or CIDR blocks, comma-separated.')}><input name="ips" value={f.ips} onInput={set('ips')} /></Field>
        <Field label={t('Requests per minute')}><input name="rpm" type="number" min={1} value={f.rpm} onInput={set('rpm')} /></Field>
        <Field label={t('Spend limit per month (USD)')}><input name="month" inputMode="decimal" pattern="\d+(\.\d{1,9})?" value={f.month} onInput={set('month')} /></Field>
        <Field label={t('Expires')}><input name="expires" type="datetime-local" value={f.expires} onInput={set('expires')} /></Field>
        <ErrorBox error={act.error} />
        <div><button type="submit" class="primary" disabled={act.busy}>{t('Create key')}</button></div>
      </form>
    </details>
  );
}
