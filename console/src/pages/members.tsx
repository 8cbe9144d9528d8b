import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { useList } from '../list.ts';
import { Pager, askFor, CopyButton, ErrorBox, Field, Load, Table, Time, confirmAction, useAction, useApp, useT } from '../ui.tsx';

const ROLES = ['owner', 'admin', 'member', 'viewer'];

/** Members and roles: add, change role, remove, invitation links and passwords. */
export function Members({ base = '/account/v1' }: { base?: string }) {
  const t = useT();
  const { session } = useApp();
  const list = useList<{ data: any[] }>(`${base}/members`, {}, 'created_at');
  const r = list.r;
  const admin = base !== '/account/v1' || session.role === 'admin' || session.role === 'owner';
  const [link, setLink] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('member');
  const add = useAction(async () => {
    await api('POST', `${base}/members`, { email, role });
    setEmail('');
    r.reload();
  });
  const change = useAction(async (m: any, to: string) => {
    await api('PATCH', `${base}/members/${m.id}`, { role: to });
    r.reload();
  });
  const remove = useAction(async (m: any) => {
    if (!(await confirmAction(t('Remove {email}? Their keys are revoked.', { email: m.email }), t('Remove')))) return;
    await api('DELETE', `${base}/members/${m.id}`);
    r.reload();
  });
  const invite = useAction(async (m: any) => {
    const inv = await api('POST', `${base}/members/${m.id}/invitations`);
    setLink(`${location.origin}${inv.path}`);
  });
  const setPassword = useAction(async (m: any) => {
    const password = await askFor({
      title: t('Set a password'),
      label: t('New password for {email} (at least 10 characters). Their other sessions end.', { email: m.email }),
      input: 'password',
      validate: (v) => (v.length < 10 ? t('At least 10 characters.') : null),
      submit: t('Set password'),
    });
    if (!password) return;
    await api('PUT', `${base}/members/${m.id}/password`, { password });
    setLink(null);
  });
  const error = add.error ?? change.error ?? remove.error ?? invite.error ?? setPassword.error;
  return (
    <section>
      <h1>{t('Members')}</h1>
      {link ? (
        <div class="card success" role="status">
          <p>{t('Invitation link (valid 7 days, shown once): send it to the member.')}</p>
          <div class="row"><code class="secret">{link}</code><CopyButton text={link} /></div>
        </div>
      ) : null}
      {admin ? (
        <form class="row wrap card" onSubmit={(e) => (e.preventDefault(), add.run())}>
          <Field label={t('E-mail')}><input type="email" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} /></Field>
          <Field label={t('Role')}>
            <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>{ROLES.map((x) => <option key={x} value={x}>{t(x)}</option>)}</select>
          </Field>
          <button type="submit" class="primary" disabled={add.busy}>{t('Add member')}</button>
        </form>
      ) : null}
      <ErrorBox error={error} />
      <Load r={r}>
        {(d) => (
          <>
          <Table
            caption={t('Members')}
            rows={d.data}
            {...list.table}
            empty={t('Only enterprise accounts have members.')}
            columns={[
              { key: 'email', sortable: true, label: t('E-mail') },
              { key: 'name', sortable: true, label: t('Name') },
              {
                key: 'role', sortable: true, label: t('Role'), render: (m: any) => admin ? (
                  <select aria-label={t('Role of {email}', { email: m.email })} value={m.role} onChange={(e) => change.run(m, (e.target as HTMLSelectElement).value)}>
                    {ROLES.map((x) => <option key={x} value={x}>{t(x)}</option>)}
                  </select>
                ) : t(m.role),
              },
              { key: 'created_at', sortable: true, label: t('Added'), render: (m: any) => <Time iso={m.created_at} /> },
              {
                key: 'actions', label: t('Actions'), render: (m: any) => admin ? (
                  <span class="row">
                    <button type="button" class="ghost small" onClick={() => invite.run(m)}>{t('Invitation link')}</button>
                    <button type="button" class="ghost small" onClick={() => setPassword.run(m)}>{t('Set password')}</button>
                    <button type="button" class="danger small" onClick={() => remove.run(m)}>{t('Remove')}</button>
                  </span>
                ) : null,
              },
            ]}
          />
          <Pager {...list.pager} />
          </>
        )}
      </Load>
    </section>
  );
}
