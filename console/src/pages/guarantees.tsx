import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { useList } from '../list.ts';
import { askFor, Drawer, ErrorBox, Field, Json, Load, Money, Pager, Status, Table, Time, confirmAction, useAction, useGet, useT } from '../ui.tsx';
import { qs } from '../lib/format.ts';

// The pages of the guarantees that have landed: abnormal-billing findings (customers see theirs
// and their disputes; operators review, verify — which compensates — or reject) and incidents
// (operators declare them and post updates). SLA contracts and the status page get theirs as they land.

const FINDING_STATUSES = ['open', 'verified', 'compensated', 'rejected'];

function FindingDrawer({ path, onClose }: { path: string; onClose: () => void }) {
  const t = useT();
  const r = useGet(path);
  return (
    <Drawer title={t('Finding')} onClose={onClose}>
      <Load r={r}>
        {(f: any) => (
          <>
            <dl class="kv">
              <dt>{t('Rule')}</dt><dd>{f.rule}</dd>
              <dt>{t('Status')}</dt><dd><Status s={f.status} /></dd>
              <dt>{t('Charged')}</dt><dd><Money v={f.charged} /></dd>
              <dt>{t('Abnormal amount')}</dt><dd><Money v={f.amount} /></dd>
              <dt>{t('Compensated')}</dt><dd><Money v={f.compensated} /></dd>
              <dt>{t('Why')}</dt><dd>{f.reason}</dd>
              {f.decision_note ? (<><dt>{t('Answer')}</dt><dd>{f.decision_note}</dd></>) : null}
            </dl>
            <h3>{t('Evidence')}</h3>
            <Json v={f.evidence} />
            <h3>{t('Requests')}</h3>
            <Table rows={f.requests ?? []} columns={[
              { key: 'id', label: 'ID', render: (x: any) => <code class="small">{x.id}</code> },
              { key: 'started_at', label: t('Time'), render: (x: any) => <Time iso={x.started_at} /> },
              { key: 'outcome', label: t('Outcome'), render: (x: any) => <Status s={x.outcome} /> },
              { key: 'duration_ms', label: t('ms'), num: true },
              { key: 'amount', label: t('Cost'), num: true, render: (x: any) => <Money v={x.amount} /> },
            ]} />
          </>
        )}
      </Load>
    </Drawer>
  );
}

function findingColumns(t: (s: string) => string, operator: boolean) {
  return [
    { key: 'created_at', sortable: true, label: t('Found'), render: (x: any) => <Time iso={x.created_at} /> },
    ...(operator ? [{ key: 'account_id', sortable: true, label: t('Account'), render: (x: any) => <code>{x.account_id}</code> }] : []),
    { key: 'rule', sortable: true, label: t('Rule') },
    { key: 'model', sortable: true, label: t('Model') },
    { key: 'charged', sortable: true, label: t('Charged'), num: true, render: (x: any) => <Money v={x.charged} /> },
    { key: 'amount', sortable: true, label: t('Abnormal amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
    { key: 'compensated', sortable: true, label: t('Compensated'), num: true, render: (x: any) => <Money v={x.compensated} /> },
    { key: 'status', sortable: true, label: t('Status'), render: (x: any) => <Status s={x.status} /> },
  ];
}

/** A customer's abnormal charges and their compensation, and their disputes. */
export function CustomerFindings() {
  const t = useT();
  const list = useList('/account/v1/findings', {}, '-created_at');
  const r = list.r;
  const disputeList = useList<{ data: any[] }>('/account/v1/disputes', {}, '-created_at');
  const disputes = disputeList.r;
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section>
      <h1>{t('Abnormal charges')}</h1>
      <p class="muted">{t('Charges that should not have happened, found by the detection rules. Verified ones are compensated with a credit.')}</p>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table caption={t('Abnormal charges')} rows={d.data} onRow={(f: any) => setOpen(f.id)} columns={findingColumns(t, false)} empty={t('No abnormal charges found.')} {...list.table} />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
      <h2>{t('Disputes')}</h2>
      <Load r={disputes}>
        {(d) => (
          <>
          <Table caption={t('Disputes')} rows={d.data} {...disputeList.table} columns={[
            { key: 'created_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
            { key: 'reason', label: t('Reason') },
            { key: 'status', label: t('Status'), render: (x: any) => <Status s={x.status} /> },
            { key: 'request_ids', label: t('Requests'), num: true, render: (x: any) => (x.request_ids ?? []).length },
          ]} />
          <Pager {...disputeList.pager} />
          </>
        )}
      </Load>
      {open ? <FindingDrawer path={`/account/v1/findings/${open}`} onClose={() => setOpen(null)} /> : null}
    </section>
  );
}

/** The operator's review queue: filter, select, verify (compensates) or reject with a reason; export. */
export function OperatorFindings() {
  const t = useT();
  const [f, setF] = useState({ status: 'open', rule: '', account_id: '' });
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const filter = { status: f.status || undefined, rule: f.rule || undefined, account_id: f.account_id || undefined };
  const list = useList('/admin/v1/findings', filter, '-created_at');
  const r = list.r;
  const decide = useAction(async (verb: 'verify' | 'reject') => {
    const ids = [...picked];
    let reason: string | null = null;
    if (verb === 'reject') {
      reason = await askFor({
        title: t('Reject {n} findings?', { n: ids.length }),
        label: t('Why are these findings rejected? The customer sees this.'),
        input: 'textarea',
        submit: t('Reject'),
      });
      if (!reason) return;
    } else if (!(await confirmAction(t('Verify {n} findings? Each is compensated with a credit, once.', { n: ids.length }), t('Verify and compensate')))) return;
    await api('POST', `/admin/v1/findings/${verb}`, { ids, ...(reason ? { reason } : {}) });
    setPicked(new Set());
    r.reload();
  });
  const toggle = (id: string) => setPicked((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value.trim() });
  return (
    <section>
      <h1>{t('Findings')}</h1>
      <div class="row wrap filters">
        <Field label={t('Status')}>
          <select value={f.status} onChange={set('status')}>
            <option value="">{t('all')}</option>
            {FINDING_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        <Field label={t('Rule')}><input value={f.rule} onChange={set('rule')} /></Field>
        <Field label={t('Account id')}><input value={f.account_id} onChange={set('account_id')} /></Field>
        <span class="grow" />
        <a class="button ghost" href={`/admin/v1/findings/export${qs({ ...filter, format: 'csv' })}`} download>CSV</a>
        <a class="button ghost" href={`/admin/v1/findings/export${qs({ ...filter, format: 'ndjson' })}`} download>NDJSON</a>
        <a class="button ghost" href={`/admin/v1/findings/export/manifest${qs(filter)}`} target="_blank" rel="noopener">{t('Manifest')}</a>
      </div>
      <div class="row">
        <button type="button" class="primary" disabled={picked.size === 0 || decide.busy} onClick={() => decide.run('verify')}>{t('Verify and compensate')} ({picked.size})</button>
        <button type="button" class="ghost" disabled={picked.size === 0 || decide.busy} onClick={() => decide.run('reject')}>{t('Reject')} ({picked.size})</button>
      </div>
      <ErrorBox error={decide.error} />
      <Load r={r}>
        {(d: any) => (
          <>
            <Table caption={t('Findings')} rows={d.data} onRow={(x: any) => setOpen(x.id)} empty={t('No findings match.')} {...list.table} columns={[
              { key: 'pick', label: t('Select'), render: (x: any) => (x.status === 'open' ? <input type="checkbox" aria-label={t('Select {id}', { id: x.id })} checked={picked.has(x.id)} onClick={(e) => e.stopPropagation()} onChange={() => toggle(x.id)} /> : null) },
              ...findingColumns(t, true),
            ]} />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
      {open ? <FindingDrawer path={`/admin/v1/findings/${open}`} onClose={() => setOpen(null)} /> : null}
    </section>
  );
}

const SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'];
const IMPACTS = ['none', 'minor', 'major', 'critical'];
const ATTRIBUTIONS = ['platform', 'upstream', 'upstream_moderation', 'upstream_rate_limit', 'customer', 'unknown'];
const UPDATE_STATUSES = ['investigating', 'identified', 'monitoring', 'resolved', 'postmortem'];

/** Incidents: declare, list, open one for its timeline and post public updates or internal notes. */
export function Incidents() {
  const t = useT();
  const [status, setStatus] = useState('');
  const list = useList('/admin/v1/incidents', { status: status || undefined }, '-window_start');
  const r = list.r;
  const [open, setOpen] = useState<string | null>(null);
  const [f, setF] = useState({ title: '', severity: 'sev3', impact: 'minor', attribution: 'unknown', message: '' });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const declare = useAction(async () => {
    if (!(await confirmAction(t('Declare and publish “{title}”?', { title: f.title }), t('Declare')))) return;
    const i = await api('POST', '/admin/v1/incidents', { title: f.title, severity: f.severity, impact: f.impact, attribution: f.attribution, ...(f.message ? { message: f.message } : {}) });
    setF({ ...f, title: '', message: '' });
    r.reload();
    setOpen(i.id);
  });
  return (
    <section>
      <h1>{t('Incidents')}</h1>
      <details class="card">
        <summary>{t('Declare an incident')}</summary>
        <form class="grid" onSubmit={(e) => (e.preventDefault(), declare.run())}>
          <Field label={t('Title')}><input required value={f.title} onInput={set('title')} /></Field>
          <Field label={t('Severity')}><select value={f.severity} onChange={set('severity')}>{SEVERITIES.map((s) => <option key={s}>{s}</option>)}</select></Field>
          <Field label={t('Impact')}><select value={f.impact} onChange={set('impact')}>{IMPACTS.map((s) => <option key={s}>{s}</option>)}</select></Field>
          <Field label={t('Attribution')}><select value={f.attribution} onChange={set('attribution')}>{ATTRIBUTIONS.map((s) => <option key={s}>{s}</option>)}</select></Field>
          <Field label={t('First public update')}><input value={f.message} onInput={set('message')} /></Field>
          <ErrorBox error={declare.error} />
          <div><button type="submit" class="primary" disabled={declare.busy}>{t('Declare')}</button></div>
        </form>
      </details>
      <div class="row wrap filters">
        <Field label={t('Status')}>
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">{t('all')}</option>
            <option value="open">{t('open')}</option>
            <option value="closed">{t('closed')}</option>
            <option value="draft">{t('draft')}</option>
          </select>
        </Field>
      </div>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table caption={t('Incidents')} rows={d.data} onRow={(i: any) => setOpen(i.id)} empty={t('No incidents.')} {...list.table} columns={[
              { key: 'title', sortable: true, label: t('Title') },
              { key: 'kind', sortable: true, label: t('Kind') },
              { key: 'severity', sortable: true, label: t('Severity') },
              { key: 'attribution', sortable: true, label: t('Attribution') },
              { key: 'status', sortable: true, label: t('Status'), render: (i: any) => <Status s={i.status} /> },
              { key: 'window_start', sortable: true, label: t('Started'), render: (i: any) => <Time iso={i.window?.start} /> },
              { key: 'window_end', sortable: true, label: t('Ended'), render: (i: any) => <Time iso={i.window?.end} /> },
            ]} />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
      {open ? <IncidentDrawer id={open} onClose={() => (setOpen(null), r.reload())} /> : null}
    </section>
  );
}

/** The affected scope per account and the credits to reissue (platform incidents), once per account. */
function Reissue({ id }: { id: string }) {
  const t = useT();
  const [shown, setShown] = useState(false);
  const preview = useGet(shown ? `/admin/v1/incidents/${id}/affected` : null);
  const [done, setDone] = useState<any>(null);
  const reissue = useAction(async (p: any) => {
    if (!(await confirmAction(t('Reissue {amount} of credits to {n} accounts? Each account is credited once, however often this runs.', { amount: `$${p.totals.to_credit}`, n: p.totals.accounts }), t('Reissue credits')))) return;
    setDone(await api('POST', `/admin/v1/incidents/${id}/reissue`, { expected_total: p.totals.to_credit }));
    preview.reload();
  });
  if (!shown) return <button type="button" class="ghost" onClick={() => setShown(true)}>{t('Preview affected requests and credits')}</button>;
  return (
    <Load r={preview}>
      {(p: any) => (
        <>
          <Table rows={p.accounts} rowKey={(a: any) => a.account_id} empty={t('No affected requests.')} columns={[
            { key: 'account_id', label: t('Account'), render: (a: any) => <code>{a.account_id}</code> },
            { key: 'requests', label: t('Requests'), num: true },
            { key: 'charged', label: t('Charged'), num: true, render: (a: any) => <Money v={a.charged} /> },
            { key: 'loss', label: t('Loss'), num: true, render: (a: any) => <Money v={a.loss} /> },
            { key: 'credited', label: t('Credited'), num: true, render: (a: any) => <Money v={a.credited} /> },
            { key: 'to_credit', label: t('To credit'), num: true, render: (a: any) => <Money v={a.to_credit} /> },
          ]} />
          <p class="num">{t('To credit')} <strong><Money v={p.totals.to_credit} /></strong></p>
          <a class="button ghost" href={`/admin/v1/incidents/${id}/affected`} target="_blank" rel="noopener">JSON</a>{' '}
          {p.reissuable ? (
            <button type="button" class="primary" disabled={reissue.busy || p.totals.to_credit === '0.00'} onClick={() => reissue.run(p)}>{t('Reissue credits')}</button>
          ) : (
            <span class="muted">{t('Only platform-attributed incidents are reissued.')}</span>
          )}
          <ErrorBox error={reissue.error} />
          {done ? <p role="status">{t('Credited now: {amount} to {n} accounts.', { amount: `$${done.totals.credited_now}`, n: done.totals.accounts_credited_now })}</p> : null}
        </>
      )}
    </Load>
  );
}

function IncidentDrawer({ id, onClose }: { id: string; onClose: () => void }) {
  const t = useT();
  const r = useGet(`/admin/v1/incidents/${id}`);
  const [u, setU] = useState({ visibility: 'public', status: '', body: '' });
  const post = useAction(async () => {
    await api('POST', `/admin/v1/incidents/${id}/updates`, { visibility: u.visibility, body: u.body, ...(u.status ? { status: u.status } : {}) });
    setU({ ...u, body: '' });
    r.reload();
  });
  return (
    <Drawer title={t('Incident')} onClose={onClose}>
      <Load r={r}>
        {(i: any) => (
          <>
            <h2>{i.title} <Status s={i.status} /></h2>
            <dl class="kv">
              <dt>{t('Severity')}</dt><dd>{i.severity} · {i.impact}</dd>
              <dt>{t('Attribution')}</dt><dd>{i.attribution}</dd>
              <dt>{t('Window')}</dt><dd><Time iso={i.window.start} /> → <Time iso={i.window.end} /></dd>
              <dt>{t('Minutes to resolve')}</dt><dd>{i.minutes_to_resolve ?? '—'}</dd>
            </dl>
            <h3>{t('Credits')}</h3>
            <Reissue id={id} />
            <h3>{t('Timeline')}</h3>
            <Table rows={i.updates ?? []} columns={[
              { key: 'created_at', label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
              { key: 'visibility', label: t('Visibility') },
              { key: 'status', label: t('Status'), render: (x: any) => (x.status ? <Status s={x.status} /> : '—') },
              { key: 'body', label: t('Message') },
            ]} />
            <form class="grid card" onSubmit={(e) => (e.preventDefault(), post.run())}>
              <Field label={t('Visibility')}><select value={u.visibility} onChange={(e) => setU({ ...u, visibility: (e.target as HTMLSelectElement).value })}><option value="public">public</option><option value="internal">internal</option></select></Field>
              <Field label={t('New status')}><select value={u.status} onChange={(e) => setU({ ...u, status: (e.target as HTMLSelectElement).value })}><option value="">—</option>{UPDATE_STATUSES.map((s) => <option key={s}>{s}</option>)}</select></Field>
              <Field label={t('Message')}><textarea rows={3} required value={u.body} onInput={(e) => setU({ ...u, body: (e.target as HTMLTextAreaElement).value })} /></Field>
              <ErrorBox error={post.error} />
              <div><button type="submit" class="primary" disabled={post.busy}>{t('Post update')}</button></div>
            </form>
          </>
        )}
      </Load>
    </Drawer>
  );
}
