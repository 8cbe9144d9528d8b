import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.ts';
import { localTime, money, utcTitle } from './lib/format.ts';
import { LOCALES, translate, type Lang } from './lib/i18n.ts';

// The console's shared pieces: context (session, language), data loading with loading / empty /
// error states, tables that sort and page on the server, a drawer, a confirmation dialog and an
// input dialog (both modal <dialog>s; the console never calls window.prompt or confirm).

export interface Session {
  signed_in: boolean;
  kind?: 'customer' | 'operator';
  via?: string;
  csrf?: string;
  account?: { id: string; name: string; kind: string };
  role?: string;
  member?: { id: string; email: string; name: string | null } | null;
  operator?: { id: string; email: string | null; name: string | null };
  key_id?: string | null;
}

export interface AppCtx {
  lang: Lang;
  session: Session;
  navigate(to: string): void;
  refreshSession(): Promise<void>;
}

export const Ctx = createContext<AppCtx>(null as unknown as AppCtx);
export const useApp = () => useContext(Ctx);

/** The translate function of the current language: t(text, vars). */
export function useT(): (s: string, v?: Record<string, string | number>) => string {
  const { lang } = useApp();
  return (s, v) => translate(lang, s, v);
}

export function useLocale(): string {
  return LOCALES[useApp().lang];
}

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  /** The path that `data` or `error` answers (while a new path loads, the old one's data stays). */
  of: string | null;
  reload(): void;
}

/** GETs `path` (null: nothing yet) and again when it changes or on reload(). */
export function useGet<T = any>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean; of: string | null }>({ data: null, error: null, loading: path !== null, of: null });
  const [n, setN] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    api<T>('GET', path).then(
      (data) => live && setState({ data, error: null, loading: false, of: path }),
      (error: ApiError) => live && setState({ data: null, error, loading: false, of: path }),
    );
    return () => void (live = false);
  }, [path, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...state, reload };
}

/**
 * `value` once `r` answers `url`; until then, the value whose answer is on screen. A table's sort
 * arrow (and aria-sort) appears with the rows in that order, not while the previous rows still show.
 */
export function useShown<V>(value: V, r: Loaded<unknown>, url: string | null): V {
  const shown = useRef(value);
  if (r.of === url) shown.current = value;
  return shown.current;
}

export function Loading() {
  const t = useT();
  return <p class="muted" role="status" aria-live="polite">{t('Loading…')}</p>;
}

export function ErrorBox({ error }: { error: { message: string; code?: string } | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      {error.message}
      {error.code ? <code class="code">{error.code}</code> : null}
    </div>
  );
}

export function Empty({ children }: { children?: ComponentChildren }) {
  const t = useT();
  return <p class="empty">{children ?? t('Nothing here yet.')}</p>;
}

/** Shows loading, the API's error, or the content. */
export function Load<T>({ r, children }: { r: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (r.loading && !r.data) return <Loading />;
  if (r.error) return <ErrorBox error={r.error} />;
  if (!r.data) return null;
  return <>{children(r.data)}</>;
}

export function Time({ iso }: { iso: string | null | undefined }) {
  const locale = useLocale();
  if (!iso) return <span class="muted">—</span>;
  return <time dateTime={iso} title={utcTitle(iso)}>{localTime(iso, locale)}</time>;
}

export function Money({ v }: { v: string | null | undefined }) {
  return <span class="num">{money(v)}</span>;
}

export interface Column<R> {
  key: string;
  label: string;
  render?: (row: R) => ComponentChildren;
  sortable?: boolean;
  num?: boolean;
}

export function Table<R extends Record<string, any>>(p: {
  columns: Column<R>[];
  rows: R[];
  caption?: string;
  sort?: { key: string; order: 'asc' | 'desc' };
  onSort?: (key: string) => void;
  onRow?: (row: R) => void;
  rowKey?: (row: R) => string;
  empty?: ComponentChildren;
}) {
  if (p.rows.length === 0) return <Empty>{p.empty}</Empty>;
  return (
    <div class="table-wrap">
      <table>
        {p.caption ? <caption class="sr-only">{p.caption}</caption> : null}
        <thead>
          <tr>
            {p.columns.map((c) => {
              const active = p.sort?.key === c.key;
              const aria = active ? (p.sort!.order === 'asc' ? 'ascending' : 'descending') : undefined;
              return (
                <th key={c.key} class={c.num ? 'num' : ''} aria-sort={aria} scope="col">
                  {c.sortable && p.onSort ? (
                    <button type="button" class="sort" onClick={() => p.onSort!(c.key)}>
                      {c.label} <span class={active ? '' : 'muted'} aria-hidden="true">{active ? (p.sort!.order === 'asc' ? '▲' : '▼') : '↕'}</span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r, i) => (
            <tr
              key={p.rowKey ? p.rowKey(r) : (r.id ?? i)}
              class={p.onRow ? 'clickable' : ''}
              tabIndex={p.onRow ? 0 : undefined}
              onClick={p.onRow ? () => p.onRow!(r) : undefined}
              onKeyDown={p.onRow ? (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), p.onRow!(r)) : undefined}
            >
              {p.columns.map((c) => (
                <td key={c.key} class={c.num ? 'num' : ''} data-label={c.label}>
                  {c.render ? c.render(r) : (r[c.key] ?? '—')}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A side panel (dialog) closed with Escape, the close button or a click outside. */
export function Drawer({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const t = useT();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    ref.current?.focus();
    const key = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    document.addEventListener('keydown', key);
    return () => {
      document.removeEventListener('keydown', key);
      prev?.focus();
    };
  }, []);
  return (
    <div class="overlay" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="drawer" role="dialog" aria-modal="true" aria-label={title} tabIndex={-1} ref={ref}>
        <header>
          <h2>{title}</h2>
          <button type="button" class="ghost" onClick={onClose} aria-label={t('Close')}>✕</button>
        </header>
        <div class="drawer-body">{children}</div>
      </div>
    </div>
  );
}

type Ask = { message: string; confirm: string; resolve: (ok: boolean) => void } | null;
let showAsk: (a: Ask) => void = () => {};

/** Asks for confirmation before money moves or a key is revoked; resolves true on confirm. */
export function confirmAction(message: string, confirm: string): Promise<boolean> {
  return new Promise((resolve) => showAsk({ message, confirm, resolve }));
}

export function ConfirmHost() {
  const t = useT();
  const [ask, setAsk] = useState<Ask>(null);
  showAsk = setAsk;
  const ref = useRef<HTMLDialogElement>(null);
  const ok = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    // A modal <dialog>: the page behind is inert and focus stays inside until it closes.
    if (ask && ref.current && !ref.current.open) ref.current.showModal();
    ok.current?.focus();
  }, [ask]);
  if (!ask) return null;
  const done = (v: boolean) => {
    ref.current?.close();
    ask.resolve(v);
    setAsk(null);
  };
  return (
    <dialog class="dialog" role="alertdialog" aria-labelledby="confirm-text" ref={ref} onCancel={(e) => (e.preventDefault(), done(false))}>
      <p id="confirm-text">{ask.message}</p>
      <div class="row end">
        <button type="button" class="ghost" onClick={() => done(false)}>{t('Cancel')}</button>
        <button type="button" class="danger" ref={ok} onClick={() => done(true)}>{ask.confirm}</button>
      </div>
    </dialog>
  );
}

export interface AskOptions {
  /** The dialog's heading. */
  title: string;
  /** The field's label. */
  label: string;
  hint?: string;
  initial?: string;
  input?: 'text' | 'textarea' | 'password';
  /** An empty answer is refused with "Required." (default true). */
  required?: boolean;
  /** A problem with the answer, shown under the field, or null when it is fine. */
  validate?: (v: string) => string | null;
  /** The submit button's text. */
  submit: string;
  /** A second step before anything happens (money moves): the question, with its confirm button. */
  review?: (v: string) => { message: string; confirm: string };
}

type Asking = (AskOptions & { resolve: (v: string | null) => void }) | null;
let showAskFor: (a: Asking) => void = () => {};

/** Asks for one value in an in-page dialog (never window.prompt); resolves null when cancelled. */
export function askFor(opts: AskOptions): Promise<string | null> {
  return new Promise((resolve) => showAskFor({ ...opts, resolve }));
}

/** The one input dialog of the console: a modal <dialog> with validation and, when asked, a review step. */
export function AskHost() {
  const t = useT();
  const [ask, setAsk] = useState<Asking>(null);
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [reviewing, setReviewing] = useState<{ message: string; confirm: string } | null>(null);
  showAskFor = (a) => (setAsk(a), setValue(a?.initial ?? ''), setProblem(null), setReviewing(null));
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (ask && d && !d.open) d.showModal();
  }, [ask]);
  if (!ask) return null;
  const done = (v: string | null) => {
    ref.current?.close();
    ask.resolve(v);
    setAsk(null);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    if (reviewing) return done(value.trim());
    const v = value.trim();
    const p = v === '' ? (ask.required === false ? null : t('Required.')) : (ask.validate?.(v) ?? null);
    setProblem(p);
    if (p) return;
    if (ask.review) setReviewing(ask.review(v));
    else done(v);
  };
  const field = { 'aria-invalid': problem ? ('true' as const) : undefined, 'aria-describedby': problem ? 'ask-problem' : undefined };
  return (
    <dialog class="dialog ask" ref={ref} aria-labelledby="ask-title" onCancel={(e) => (e.preventDefault(), done(null))}>
      <form onSubmit={submit} noValidate>
        <h2 id="ask-title">{ask.title}</h2>
        {reviewing ? (
          <p id="ask-review" role="status">{reviewing.message}</p>
        ) : (
          <label class="field">
            <span>{ask.label}</span>
            {ask.input === 'textarea' ? (
              <textarea id="ask-input" rows={3} value={value} autoFocus {...field} onInput={(e) => (setValue((e.target as HTMLTextAreaElement).value), setProblem(null))} />
            ) : (
              <input id="ask-input" type={(ask.input === 'password' ? 'password' : 'text') as 'text'} value={value} autoFocus {...field} onInput={(e) => (setValue((e.target as HTMLInputElement).value), setProblem(null))} />
            )}
            {ask.hint ? <small class="muted">{ask.hint}</small> : null}
            {problem ? <small id="ask-problem" class="problem" role="alert">{problem}</small> : null}
          </label>
        )}
        <div class="row end">
          <button type="button" class="ghost" onClick={() => (reviewing ? setReviewing(null) : done(null))}>{reviewing ? t('Back') : t('Cancel')}</button>
          <button type="submit" class={reviewing ? 'danger' : 'primary'}>{reviewing ? reviewing.confirm : ask.submit}</button>
        </div>
      </form>
    </dialog>
  );
}

/** Runs an action, keeping its pending state and the API's error message for the form. */
export function useAction<A extends unknown[]>(f: (...a: A) => Promise<unknown>): { run: (...a: A) => Promise<void>; busy: boolean; error: ApiError | null; clear(): void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (...a: A) => {
    setBusy(true);
    setError(null);
    try {
      await f(...a);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, { error: { code: 'CLIENT', message: String((e as Error).message) } }));
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(null) };
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint ? <small class="muted">{hint}</small> : null}
    </label>
  );
}

/** Copy to clipboard with a confirmation. */
export function CopyButton({ text }: { text: string }) {
  const t = useT();
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="ghost"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
        } catch {
          /* no clipboard permission: the text is selectable */
        }
        setDone(true);
      }}
    >
      {done ? t('Copied') : t('Copy')}
    </button>
  );
}

/** "First page / next page" paging over the cursor the API gives (`next_cursor`). */
export function Pager({ next, onNext, onFirst, atFirst }: { next: string | null | undefined; onNext: (c: string) => void; onFirst: () => void; atFirst: boolean }) {
  const t = useT();
  return (
    <div class="row pager">
      <button type="button" class="ghost" disabled={atFirst} onClick={onFirst}>{t('First')}</button>
      <button type="button" class="ghost" disabled={!next} onClick={() => next && onNext(next)}>{t('Next')}</button>
    </div>
  );
}

export function Status({ s }: { s: string }) {
  return <span class={`badge b-${s}`}>{s}</span>;
}

export function Json({ v }: { v: unknown }) {
  return <pre class="json">{v === null || v === undefined ? '—' : JSON.stringify(v, null, 2)}</pre>;
}
