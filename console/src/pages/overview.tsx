import { useMemo } from 'preact/hooks';
import { Load, Money, Table, useGet, useT, useApp } from '../ui.tsx';
import { StackedBars } from '../chart.tsx';
import { lastDays, pivotDaily } from '../lib/chart.ts';
import { qs, tzOffsetMinutes } from '../lib/format.ts';

export function Overview() {
  const t = useT();
  const { navigate } = useApp();
  const r = useGet(`/account/v1/overview${qs({ tz_offset_minutes: tzOffsetMinutes(), days: 30 })}`);
  return (
    <section>
      <h1>{t('Overview')}</h1>
      <Load r={r}>
        {(o: any) => (
          <>
            {o.low_balance ? (
              <div class="warn" role="alert">
                {t('Your balance is low: {available} available.', { available: `$${o.balance.available}` })}{' '}
                <a href="/console/billing" onClick={(e) => (e.preventDefault(), navigate('/billing'))}>{t('Top up or redeem a code')}</a>
              </div>
            ) : null}
            <div class="cards">
              <Card label={t('Available')} value={<Money v={o.balance.available} />} testid="available" />
              <Card label={t('Paid')} value={<Money v={o.balance.paid} />} />
              <Card label={t('Granted')} value={<Money v={o.balance.granted} />} />
              <Card label={t('Held')} value={<Money v={o.balance.held} />} />
              <Card label={t('Spend today')} value={<Money v={o.spend_today} />} sub={t('{n} requests', { n: o.requests_today })} />
              <Card label={t('Spend this month')} value={<Money v={o.spend_month} />} sub={t('{n} requests', { n: o.requests_month })} />
            </div>
            <SpendChart daily={o.daily} />
            <h2>{t('Top keys this month')}</h2>
            <Table
              caption={t('Top keys this month')}
              rows={o.top_keys}
              rowKey={(k: any) => k.key_id ?? 'none'}
              columns={[
                { key: 'name', label: t('Key'), render: (k: any) => k.name ?? k.key_id ?? '—' },
                { key: 'prefix', label: t('Prefix'), render: (k: any) => <code>{k.prefix ?? '—'}</code> },
                { key: 'requests', label: t('Requests'), num: true },
                { key: 'spend', label: t('Spend'), num: true, render: (k: any) => <Money v={k.spend} /> },
              ]}
            />
          </>
        )}
      </Load>
    </section>
  );
}

export function Card({ label, value, sub, testid }: { label: string; value: any; sub?: string; testid?: string }) {
  return (
    <div class="card stat" data-testid={testid}>
      <div class="muted small">{label}</div>
      <div class="big">{value}</div>
      {sub ? <div class="muted small">{sub}</div> : null}
    </div>
  );
}

export function SpendChart({ daily }: { daily: any[] }) {
  const t = useT();
  const pivot = useMemo(() => pivotDaily(daily, ...lastDays(30)), [daily]);
  return (
    <div class="card">
      <h2>{t('Spend per day by model')}</h2>
      {daily.length === 0 ? <p class="empty">{t('No requests in this period.')}</p> : <StackedBars pivot={pivot} label={t('Spend per day by model')} />}
    </div>
  );
}
