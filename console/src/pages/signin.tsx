import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorBox, Field, useAction, useApp, useT } from '../ui.tsx';

type Method = 'key' | 'password' | 'operator';

/** Sign in with a key, a member's e-mail and password, or an operator account. */
export function SignIn() {
  const t = useT();
  const { refreshSession, navigate } = useApp();
  const [method, setMethod] = useState<Method>('key');
  const [key, setKey] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [accounts, setAccounts] = useState<Array<{ id: string; name: string }>>([]);
  const [accountId, setAccountId] = useState('');
  const act = useAction(async () => {
    const body = method === 'key' ? { method, key: key.trim() } : { method, email, password, ...(method === 'password' && accountId ? { account_id: accountId } : {}) };
    try {
      await api('POST', '/console/api/sign-in', body);
    } catch (e) {
      const accts = (e as { body?: { error?: { accounts?: Array<{ id: string; name: string }> } } }).body?.error?.accounts;
      if (accts) setAccounts(accts);
      throw e;
    }
    // The key is not kept anywhere: the form forgets it and the session is the cookie.
    setKey('');
    setPassword('');
    await refreshSession();
    navigate('/');
  });
  const tabs: Array<[Method, string]> = [['key', t('API key')], ['password', t('E-mail and password')], ['operator', t('Operator account')]];
  return (
    <section class="signin card">
      <h1>{t('Sign in to Surety')}</h1>
      <div class="tabs" role="tablist">
        {tabs.map(([m, label]) => (
          <button type="button" role="tab" key={m} aria-selected={method === m} class={method === m ? 'active' : ''} onClick={() => (setMethod(m), act.clear())}>{label}</button>
        ))}
      </div>
      <form onSubmit={(e) => (e.preventDefault(), act.run())}>
        {method === 'key' ? (
          <Field label={t('Customer key or operator key')} hint={t('The key is sent once to start a session; the browser never stores it.')}>
            <input name="key" type="password" autoComplete="off" required value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="sk-sur-…" />
          </Field>
        ) : (
          <>
            <Field label={t('E-mail')}>
              <input name="email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
            </Field>
            <Field label={t('Password')}>
              <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
            </Field>
            {method === 'password' && accounts.length > 0 ? (
              <Field label={t('Account')}>
                <select value={accountId} onChange={(e) => setAccountId((e.target as HTMLSelectElement).value)} required>
                  <option value="">—</option>
                  {accounts.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
                </select>
              </Field>
            ) : null}
          </>
        )}
        <ErrorBox error={act.error} />
        <button type="submit" class="primary" disabled={act.busy}>{act.busy ? t('Signing in…') : t('Sign in')}</button>
      </form>
      <p class="muted small">{t('Operators: sign in with the operator key once to create operator accounts (Operators page).')}</p>
    </section>
  );
}

/** The invitation link: the member chooses a password and is signed in. */
export function Invite() {
  const t = useT();
  const { refreshSession, navigate } = useApp();
  const [password, setPassword] = useState('');
  const token = location.hash.slice(1);
  const act = useAction(async () => {
    await api('POST', '/console/api/invitations/accept', { token, password });
    history.replaceState(null, '', '/console/');
    await refreshSession();
    navigate('/');
  });
  return (
    <section class="signin card">
      <h1>{t('Choose your password')}</h1>
      <form onSubmit={(e) => (e.preventDefault(), act.run())}>
        <Field label={t('New password')} hint={t('At least 10 characters.')}>
          <input type="password" autoComplete="new-password" minLength={10} required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </Field>
        <ErrorBox error={act.error} />
        <button type="submit" class="primary" disabled={act.busy || !token}>{t('Set password and sign in')}</button>
      </form>
    </section>
  );
}
