import { render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { api, setCsrf, whenSignedOut } from './api.ts';
import { LANGS, pickLang, translate, type Lang } from './lib/i18n.ts';
import { AskHost, ConfirmHost, Ctx, Loading, type Session } from './ui.tsx';
import { CUSTOMER_NAV, OPERATOR_NAV, routeFor, type NavItem } from './routes.tsx';
import { Invite, SignIn } from './pages/signin.tsx';

// The console's shell: who is signed in, the navigation for customers or operators, language and
// theme, and a small router over the History API (paths under /console/).

const BASE = '/console';

function storedTheme(): 'light' | 'dark' | 'auto' {
  const t = localStorage.getItem('surety.theme');
  return t === 'light' || t === 'dark' ? t : 'auto';
}

function App() {
  const [path, setPath] = useState(location.pathname.replace(/^\/console/, '') || '/');
  const [session, setSession] = useState<Session | null>(null);
  const [lang, setLang] = useState<Lang>(pickLang(localStorage.getItem('surety.lang'), navigator.languages));
  const [theme, setTheme] = useState(storedTheme());
  const [menu, setMenu] = useState(false);

  const refreshSession = async () => {
    const s = await api<Session>('GET', '/console/api/session').catch(() => ({ signed_in: false }) as Session);
    setCsrf(s.csrf ?? '');
    setSession(s);
  };
  useEffect(() => {
    refreshSession();
    whenSignedOut(() => setSession({ signed_in: false }));
    const pop = () => setPath(location.pathname.replace(/^\/console/, '') || '/');
    addEventListener('popstate', pop);
    return () => removeEventListener('popstate', pop);
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    localStorage.setItem('surety.lang', lang);
  }, [lang]);
  useEffect(() => {
    if (theme === 'auto') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.setAttribute('data-theme', theme);
    localStorage.setItem('surety.theme', theme);
  }, [theme]);

  const navigate = (to: string) => {
    history.pushState(null, '', BASE + to);
    setPath(to);
    setMenu(false);
    scrollTo(0, 0);
  };
  const t = (s: string) => translate(lang, s);
  const ctx = { lang, session: session ?? { signed_in: false }, navigate, refreshSession };

  let main: ComponentChildren;
  let nav: NavItem[] = [];
  if (!session) main = <Loading />;
  else if (path.startsWith('/invite')) main = <Invite />;
  else if (!session.signed_in) main = <SignIn />;
  else {
    nav = session.kind === 'operator' ? OPERATOR_NAV : CUSTOMER_NAV;
    const home = nav[0]!.path;
    const r = routeFor(session.kind!, path === '/' || path === '/sign-in' ? home : path);
    main = r ?? <p>{t('No such page.')}</p>;
  }
  const signOut = async () => {
    await api('POST', '/console/api/sign-out').catch(() => {});
    setSession({ signed_in: false });
    navigate('/');
  };
  const who = session?.kind === 'operator' ? (session.operator?.email ?? t('Operator key')) : session?.member?.email ?? session?.account?.name;

  return (
    <Ctx.Provider value={ctx}>
      <a class="skip" href="#main">{t('Skip to content')}</a>
      <header class="top">
        {nav.length ? (
          <button type="button" class="ghost menu-btn" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>☰ <span class="sr-only">{t('Menu')}</span></button>
        ) : null}
        <a class="brand" href={`${BASE}/`} onClick={(e) => (e.preventDefault(), navigate('/'))}>Surety</a>
        <span class="grow" />
        <label class="inline">
          <span class="sr-only">{t('Language')}</span>
          <select value={lang} onChange={(e) => { const l = (e.target as HTMLSelectElement).value as Lang; localStorage.setItem('surety.lang', l); setLang(l); }}>
            {LANGS.map((l) => <option key={l} value={l}>{l === 'en' ? 'English' : '中文'}</option>)}
          </select>
        </label>
        <label class="inline">
          <span class="sr-only">{t('Theme')}</span>
          <select value={theme} onChange={(e) => { const v = (e.target as HTMLSelectElement).value as 'auto'; localStorage.setItem('surety.theme', v); setTheme(v); }}>
            <option value="auto">{t('Auto theme')}</option>
            <option value="light">{t('Light')}</option>
            <option value="dark">{t('Dark')}</option>
          </select>
        </label>
        {session?.signed_in ? (
          <>
            <span class="who muted" title={session.via}>{who}{session.role ? ` · ${t(session.role)}` : ''}</span>
            <button type="button" class="ghost" onClick={signOut}>{t('Sign out')}</button>
          </>
        ) : null}
      </header>
      <div class={`layout ${nav.length ? '' : 'bare'}`}>
        {nav.length ? (
          <nav id="nav" class={menu ? 'open' : ''} aria-label={t('Main')}>
            <ul>
              {nav.map((n) =>
                n.section ? (
                  <li key={n.label} class="section">{t(n.label)}</li>
                ) : (
                  <li key={n.path}>
                    <a
                      href={n.external ? n.path : BASE + n.path}
                      aria-current={path.startsWith(n.path) ? 'page' : undefined}
                      onClick={n.external ? undefined : (e) => (e.preventDefault(), navigate(n.path))}
                    >
                      {t(n.label)}
                    </a>
                  </li>
                ),
              )}
            </ul>
          </nav>
        ) : null}
        <main id="main" tabIndex={-1}>{main}</main>
      </div>
      <ConfirmHost />
      <AskHost />
    </Ctx.Provider>
  );
}

render(<App />, document.getElementById('app')!);
