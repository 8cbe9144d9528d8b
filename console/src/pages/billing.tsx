import { useState } from 'preact/hooks';
import { api, idempotent } from '../api.ts';
import { askFor, ErrorBox, Field, Load, Money, Pager, Status, Table, Time, useAction, useGet, useT } from '../ui.tsx';
import { money, usdProblem } from '../lib/format.ts';
import { useList, type ListState } from '../list.ts';

const newKey = () => crypto.randomUUID();

/** Billing: balance, top-ups with refund requests, refunds, code redemption, the ledger statement. */
export function Billing() {
  const t = useT();
  const bal = useGet('/account/v1/balance');
  const topupList = useList<{ data: any[] }>('/account/v1/topups', {}, '-created_at');
  const topups = topupList.r;
  const refundList = useList<{ data: any[] }>('/account/v1/refunds', {}, '-created_at');
  const refunds = refundList.r;
  const [code, setCode] = useState('');
  const redeem = useAction(async () => {
    await api('POST', '/account/v1/redeem', { code: code.trim() });
    setCode('');
    bal.reload();
    topups.reload();
  });
  const refund = useAction(async (tp: any) => {
    const amount = await askFor({
      title: t('Request a refund'),
      label: t('Amount to refund (USD), up to {max}', { max: tp.amount }),
      initial: tp.amount,
      validate: (v) => ({ format: t('Enter an amount like 12.50.'), zero: t('The amount must be above zero.'), over: t('At most {max}.', { max: money(tp.amount) }), ok: null })[usdProblem(v, tp.amount) ?? 'ok'],
      submit: t('Continue'),
      review: (v) => ({ message: t('Ask to refund {amount} of this top-up back to where it came from?', { amount: money(v) }), confirm: t('Request refund') }),
    });
    if (!amount) return;
    await idempotent('/account/v1/refunds', { topup_id: tp.id, amount }, newKey());
    refunds.reload();
  });
  return (
    <section>
      <h1>{t('Billing')}</h1>
      <Load r={bal}>
        {(b: any) => (
          <div class="cards">
            <div class="card stat"><div class="muted small">{t('Available')}</div><div class="big"><Money v={b.available} /></div></div>
            <div class="card stat"><div class="muted small">{t('Paid')}</div><div class="big"><Money v={b.paid} /></div></div>
            <div class="card stat"><div class="muted small">{t('Granted')}</div><div class="big"><Money v={b.granted} /></div></div>
            <div class="card stat"><div class="muted small">{t('Credit line')}</div><div class="big"><Money v={b.credit_line} /></div></div>
          </div>
        )}
      </Load>
      <form class="row wrap card" onSubmit={(e) => (e.preventDefault(), redeem.run())}>
        <Field label={t('Redemption code')}><input required value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} placeholder="SR-XXXX-XXXX-XXXX-XXXX" /></Field>
        <button type="submit" class="primary" disabled={redeem.busy}>{t('Redeem')}</button>
        <ErrorBox error={redeem.error} />
      </form>
      <h2>{t('Top-ups')}</h2>
      <ErrorBox error={refund.error} />
      <Load r={topups}>
        {(d) => (
          <>
          <Table
            caption={t('Top-ups')}
            rows={d.data}
            {...topupList.table}
            columns={[
              { key: 'created_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
              { key: 'method', sortable: true, label: t('Method') },
              { key: 'reference', label: t('Reference') },
              { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
              { key: 'bonus', sortable: true, label: t('Bonus'), num: true, render: (x: any) => <Money v={x.bonus} /> },
              { key: 'refunded', sortable: true, label: t('Refunded'), num: true, render: (x: any) => <Money v={x.refunded} /> },
              { key: 'a', label: t('Actions'), render: (x: any) => (x.refundable ? <button type="button" class="ghost small" onClick={() => refund.run(x)}>{t('Request refund')}</button> : null) },
            ]}
          />
          <Pager {...topupList.pager} />
          </>
        )}
      </Load>
      <h2>{t('Refunds')}</h2>
      <Load r={refunds}>{(d) => <RefundTable rows={d.data} list={refundList} />}</Load>
      <Statement base="/account/v1" />
    </section>
  );
}

export function RefundTable({ rows, actions, list }: { rows: any[]; actions?: (r: any) => any; list?: ListState<unknown> }) {
  const t = useT();
  return (
    <>
    <Table
      caption={t('Refunds')}
      rows={rows}
      {...list?.table}
      columns={[
        { key: 'created_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
        { key: 'account_id', sortable: true, label: t('Account'), render: (x: any) => <code>{x.account_id}</code> },
        { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
        { key: 'payout', label: t('Payout'), num: true, render: (x: any) => <Money v={x.payout ?? x.payout_estimate} /> },
        { key: 'status', sortable: true, label: t('Status'), render: (x: any) => <Status s={x.status} /> },
        { key: 'reason', label: t('Reason') },
        ...(actions ? [{ key: 'a', label: t('Actions'), render: actions }] : []),
      ]}
    />
    {list ? <Pager {...list.pager} /> : null}
    </>
  );
}

/** The ledger statement, newest first, paged by transaction. */
export function Statement({ base }: { base: string }) {
  const t = useT();
  const list = useList(`${base}/ledger`, {}, '-at', 25);
  const r = list.r;
  return (
    <>
      <h2>{t('Ledger statement')}</h2>
      <Load r={r}>
        {(d: any) => (
          <>
            <Table
              caption={t('Ledger statement')}
              rows={d.data}
              rowKey={(x: any) => x.tx_id}
              {...list.table}
              columns={[
                { key: 'at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.at} /> },
                { key: 'kind', sortable: true, label: t('Kind') },
                { key: 'memo', label: t('Memo') },
                { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
                { key: 'paid', sortable: true, label: t('Paid'), num: true, render: (x: any) => <Money v={x.paid} /> },
                { key: 'granted', sortable: true, label: t('Granted'), num: true, render: (x: any) => <Money v={x.granted} /> },
              ]}
            />
            <Pager {...list.pager} />
          </>
        )}
      </Load>
    </>
  );
}

/** Corporate transfers: tell the platform about a bank transfer; see each notice's state. */
export function Transfers() {
  const t = useT();
  const list = useList<{ data: any[] }>('/account/v1/transfer-notices', {}, '-created_at');
  const r = list.r;
  const [f, setF] = useState({ amount: '', paid_on: '', payer: '', reference: '', contract_number: '', note: '' });
  const [file, setFile] = useState<File | null>(null);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const send = useAction(async () => {
    const body: Record<string, unknown> = { amount: f.amount, paid_on: f.paid_on, payer: f.payer, reference: f.reference };
    if (f.contract_number) body.contract_number = f.contract_number;
    if (f.note) body.note = f.note;
    if (file) {
      const data = btoa(String.fromCharCode(...new Uint8Array(await file.arrayBuffer())));
      body.receipt = { name: file.name, type: file.type, data };
    }
    await api('POST', '/account/v1/transfer-notices', body);
    setF({ amount: '', paid_on: '', payer: '', reference: '', contract_number: '', note: '' });
    setFile(null);
    r.reload();
  });
  return (
    <section>
      <h1>{t('Bank transfers')}</h1>
      <p class="muted">{t('Made a bank transfer? Tell us here; the platform confirms it and the amount is added to your balance with your reference.')}</p>
      <form class="grid card" onSubmit={(e) => (e.preventDefault(), send.run())}>
        <Field label={t('Amount (USD)')}><input required inputMode="decimal" pattern="\d+(\.\d{1,9})?" value={f.amount} onInput={set('amount')} /></Field>
        <Field label={t('Date paid')}><input required type="date" value={f.paid_on} onInput={set('paid_on')} /></Field>
        <Field label={t('Payer')}><input required value={f.payer} onInput={set('payer')} /></Field>
        <Field label={t('Reference')}><input required value={f.reference} onInput={set('reference')} /></Field>
        <Field label={t('Contract number')}><input value={f.contract_number} onInput={set('contract_number')} /></Field>
        <Field label={t('Note')}><input value={f.note} onInput={set('note')} /></Field>
        <Field label={t('Receipt (PDF or image, ≤ 2 MB)')}><input type="file" accept="application/pdf,image/png,image/jpeg,image/webp" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} /></Field>
        <ErrorBox error={send.error} />
        <div><button type="submit" class="primary" disabled={send.busy}>{t('Send notice')}</button></div>
      </form>
      <Load r={r}>{(d) => <NoticeTable rows={d.data} base="/account/v1" list={list} />}</Load>
    </section>
  );
}

export function NoticeTable({ rows, base, actions, list }: { rows: any[]; base: string; actions?: (r: any) => any; list?: ListState<unknown> }) {
  const t = useT();
  return (
    <>
    <Table
      caption={t('Bank transfers')}
      rows={rows}
      {...list?.table}
      columns={[
        { key: 'created_at', sortable: true, label: t('Sent'), render: (x: any) => <Time iso={x.created_at} /> },
        { key: 'account_id', sortable: true, label: t('Account'), render: (x: any) => <code>{x.account_id}</code> },
        { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
        { key: 'paid_on', sortable: true, label: t('Date paid') },
        { key: 'payer', sortable: true, label: t('Payer') },
        { key: 'reference', label: t('Reference') },
        { key: 'contract_number', label: t('Contract number') },
        { key: 'receipt', label: t('Receipt'), render: (x: any) => (x.receipt ? <a href={`${base}/transfer-notices/${x.id}/receipt`}>{x.receipt.name}</a> : '—') },
        { key: 'status', sortable: true, label: t('Status'), render: (x: any) => <Status s={x.status} /> },
        ...(actions ? [{ key: 'a', label: t('Actions'), render: actions }] : []),
      ]}
    />
    {list ? <Pager {...list.pager} /> : null}
    </>
  );
}

/** Credits granted to the account: compensation, incident reissues, SLA credits, goodwill. */
export function Credits() {
  const t = useT();
  const list = useList<{ data: any[] }>('/account/v1/credits', {}, '-created_at');
  const r = list.r;
  return (
    <section>
      <h1>{t('Credits and compensation')}</h1>
      <p class="muted">{t('Compensation for abnormal charges, credits reissued after platform incidents, SLA credits and goodwill credits all land here.')}</p>
      <Load r={r}>
        {(d) => (
          <>
          <Table
            caption={t('Credits and compensation')}
            rows={d.data}
            {...list.table}
            columns={[
              { key: 'created_at', sortable: true, label: t('Time'), render: (x: any) => <Time iso={x.created_at} /> },
              { key: 'kind', sortable: true, label: t('Kind') },
              { key: 'memo', label: t('Memo') },
              { key: 'ref', label: t('For'), render: (x: any) => (x.ref_type ? `${x.ref_type} ${x.ref_id ?? ''}` : '—') },
              { key: 'amount', sortable: true, label: t('Amount'), num: true, render: (x: any) => <Money v={x.amount} /> },
            ]}
          />
          <Pager {...list.pager} />
          </>
        )}
      </Load>
    </section>
  );
}
