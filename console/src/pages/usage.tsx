import { useState } from 'preact/hooks';
import { Field, Load, Money, Table, useGet, useLocale, useShown, useT } from '../ui.tsx';
import { count, dateInputBounds, qs, rangeBounds, tzOffsetMinutes, RANGES, type Range } from '../lib/format.ts';

/** A range picker: presets in the viewer's days, or two dates. */
export function RangePicker({ value, onChange }: { value: { range: Range; from: string; to: string }; onChange: (v: { range: Range; from: string; to: string }) => void }) {
  const t = useT();
  const labels: Record<Range, string> = { today: t('Today'), '7d': t('7 days'), '30d': t('30 days'), '90d': t('90 days'), custom: t('Custom') };
  return (
    <div class="row wrap">
      <Field label={t('Range')}>
        <select value={value.range} onChange={(e) => onChange({ ...value, range: (e.target as HTMLSelectElement).value as Range })}>
          {RANGES.map((r) => <option key={r} value={r}>{labels[r]}</option>)}
        </select>
      </Field>
      {value.range === 'custom' ? (
        <>
          <Field label={t('From')}><input type="date" value={value.from} onChange={(e) => onChange({ ...value, from: (e.target as HTMLInputElement).value })} /></Field>
          <Field label={t('To')}><input type="date" value={value.to} onChange={(e) => onChange({ ...value, to: (e.target as HTMLInputElement).value })} /></Field>
        </>
      ) : null}
    </div>
  );
}

export function boundsOf(v: { range: Range; from: string; to: string }): { from?: string; to?: string } {
  if (v.range !== 'custom') return rangeBounds(v.range, new Date());
  return dateInputBounds(v.from, v.to) ?? {};
}

const GROUPS = ['day', 'model', 'key', 'member', 'outcome'] as const;

/** Usage analytics: requests, tokens, spend and outcomes by a dimension; sorted on the server; CSV export. */
export function Usage({ base = '/account/v1', accountId }: { base?: string; accountId?: string }) {
  const t = useT();
  const locale = useLocale();
  const [range, setRange] = useState<{ range: Range; from: string; to: string }>({ range: '30d', from: '', to: '' });
  const [group, setGroup] = useState<string>('day');
  const [sort, setSort] = useState<{ key: string; order: 'asc' | 'desc' }>({ key: 'group', order: 'asc' });
  const b = boundsOf(range);
  const params = { ...b, group_by: group, sort: sort.order === 'desc' ? `-${sort.key}` : sort.key, tz_offset_minutes: tzOffsetMinutes(), account_id: accountId };
  const url = `${base}/usage${qs(params)}`;
  const r = useGet(url);
  const shownSort = useShown(sort, r, url);
  const keys = useGet<{ data: any[] }>(base === '/account/v1' ? '/account/v1/keys' : null);
  const members = useGet<{ data: any[] }>(base === '/account/v1' && group === 'member' ? '/account/v1/members' : null);
  const keyName = (id: string) => keys.data?.data.find((k) => k.id === id)?.name ?? id;
  const memberName = (id: string) => members.data?.data.find((m) => m.id === id)?.email ?? id;
  const onSort = (key: string) => setSort((s) => ({ key, order: s.key === key && s.order === 'desc' ? 'asc' : 'desc' }));
  const groups = base === '/admin/v1' ? [...GROUPS, 'account'] : GROUPS;
  return (
    <section>
      <h1>{t('Usage')}</h1>
      <div class="row wrap filters">
        <RangePicker value={range} onChange={setRange} />
        <Field label={t('Group by')}>
          <select value={group} onChange={(e) => setGroup((e.target as HTMLSelectElement).value)}>
            {groups.map((g) => <option key={g} value={g}>{t(g)}</option>)}
          </select>
        </Field>
        <span class="grow" />
        <a class="button ghost" href={`${base}/usage${qs({ ...params, format: 'csv' })}`} download>{t('Export CSV')}</a>
      </div>
      <Load r={r}>
        {(u: any) => (
          <Table
            caption={t('Usage')}
            rows={u.data}
            rowKey={(x: any) => String(x.group)}
            sort={shownSort}
            onSort={onSort}
            columns={[
              { key: 'group', label: t(group), sortable: true, render: (x: any) => (x.group === null ? '—' : group === 'key' ? keyName(x.group) : group === 'member' ? memberName(x.group) : x.group) },
              { key: 'requests', label: t('Requests'), sortable: true, num: true, render: (x: any) => count(x.requests, locale) },
              { key: 'ok', label: t('OK'), num: true, render: (x: any) => count(x.ok, locale) },
              { key: 'client_faults', label: t('Client errors'), num: true, render: (x: any) => count(x.client_faults, locale) },
              { key: 'upstream_faults', label: t('Upstream errors'), num: true, render: (x: any) => count(x.upstream_faults, locale) },
              { key: 'platform_faults', label: t('Platform errors'), num: true, render: (x: any) => count(x.platform_faults, locale) },
              { key: 'input_tokens', label: t('Input tokens'), sortable: true, num: true, render: (x: any) => count(x.input_tokens, locale) },
              { key: 'output_tokens', label: t('Output tokens'), sortable: true, num: true, render: (x: any) => count(x.output_tokens, locale) },
              { key: 'spend', label: t('Spend'), sortable: true, num: true, render: (x: any) => <Money v={x.spend} /> },
            ]}
            empty={t('No requests in this period.')}
          />
        )}
      </Load>
    </section>
  );
}
