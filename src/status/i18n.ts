import type { ComponentStatus, Indicator } from './vocabulary.ts';
import type { IncidentStatus, MaintenanceStatus } from './notices.ts';

// The page's two languages. Chosen by ?lang= first, then the Accept-Language header (its
// q-values honoured), else English.

export const LANGS = ['en', 'zh'] as const;
export type Lang = (typeof LANGS)[number];

export function chooseLang(query: string | undefined, acceptLanguage: string | undefined): Lang {
  if (query === 'zh' || query === 'en') return query;
  if (!acceptLanguage) return 'en';
  const prefs = acceptLanguage
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag ?? '', q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((p) => p.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const p of prefs) {
    if (p.tag.startsWith('zh')) return 'zh';
    if (p.tag.startsWith('en')) return 'en';
  }
  return 'en';
}

interface Texts {
  title: (name: string) => string;
  skip: string;
  indicator: Record<Indicator, string>;
  status: Record<ComponentStatus, string>;
  phase: Record<IncidentStatus | MaintenanceStatus, string>;
  updated: string;
  components: string;
  uptimeHeading: (days: number) => string;
  uptimeOf: (name: string, days: number) => string;
  uptime: string;
  noData: string;
  daysAgo: (n: number) => string;
  today: string;
  rule: string;
  ruleHeading: string;
  responseTime: string;
  responseTimeLabel: (name: string, min: number, max: number, last: number | null) => string;
  noResponseData: string;
  activeIncidents: string;
  maintenance: string;
  upcoming: string;
  inProgress: string;
  pastIncidents: string;
  noIncidents: string;
  history: string;
  historyTitle: string;
  feeds: string;
  api: string;
  badge: string;
  noIncidentsDay: string;
  incidentsOn: string;
  scheduled: (from: string, to: string) => string;
  affects: string;
  back: string;
  language: string;
}

const en: Texts = {
  title: (n) => `${n} status`,
  skip: 'Skip to content',
  indicator: { none: 'All systems operational', minor: 'Minor service disruption', major: 'Partial system outage', critical: 'Major system outage', maintenance: 'Service under maintenance' },
  status: { operational: 'Operational', degraded_performance: 'Degraded performance', partial_outage: 'Partial outage', major_outage: 'Major outage', under_maintenance: 'Under maintenance' },
  phase: {
    investigating: 'Investigating', identified: 'Identified', monitoring: 'Monitoring', resolved: 'Resolved', postmortem: 'Postmortem',
    scheduled: 'Scheduled', in_progress: 'In progress', verifying: 'Verifying', completed: 'Completed',
  },
  updated: 'Updated',
  components: 'Components',
  uptimeHeading: (d) => `Uptime over the last ${d} days`,
  uptimeOf: (n, d) => `${n}: uptime per day, last ${d} days`,
  uptime: 'uptime',
  noData: 'no data',
  daysAgo: (n) => `${n} days ago`,
  today: 'Today',
  ruleHeading: 'How uptime is computed',
  rule: 'Each bar is one UTC day, computed from the stored history of status changes. Minutes in major outage count fully as downtime, minutes in partial outage count 30 %; degraded performance and maintenance count as up.',
  responseTime: 'Response time, last 24 hours',
  responseTimeLabel: (n, a, b, l) => `${n}: mean response time per hour over the last 24 hours, between ${a} and ${b} ms${l === null ? '' : `, last hour ${l} ms`}`,
  noResponseData: 'No requests in the last 24 hours.',
  activeIncidents: 'Active incidents',
  maintenance: 'Maintenance',
  upcoming: 'Upcoming',
  inProgress: 'In progress',
  pastIncidents: 'Past incidents',
  noIncidents: 'No incidents reported.',
  history: 'Incident history',
  historyTitle: 'Incident history',
  feeds: 'Atom and RSS feeds',
  api: 'JSON API',
  badge: 'Badge',
  noIncidentsDay: 'No incidents',
  incidentsOn: 'Incidents',
  scheduled: (a, b) => `Scheduled ${a} – ${b}`,
  affects: 'Affects',
  back: 'Back to the status page',
  language: 'Language',
};

const zh: Texts = {
  title: (n) => `${n} 服务状态`,
  skip: '跳到正文',
  indicator: { none: '所有系统运行正常', minor: '部分服务性能下降', major: '部分系统中断', critical: '重大系统中断', maintenance: '服务维护中' },
  status: { operational: '正常', degraded_performance: '性能下降', partial_outage: '部分中断', major_outage: '重大中断', under_maintenance: '维护中' },
  phase: { investigating: '调查中', identified: '已定位', monitoring: '观察中', resolved: '已解决', postmortem: '事后复盘', scheduled: '已计划', in_progress: '进行中', verifying: '验证中', completed: '已完成' },
  updated: '更新于',
  components: '组件',
  uptimeHeading: (d) => `最近 ${d} 天可用率`,
  uptimeOf: (n, d) => `${n}：最近 ${d} 天每日可用率`,
  uptime: '可用率',
  noData: '无数据',
  daysAgo: (n) => `${n} 天前`,
  today: '今天',
  ruleHeading: '可用率的计算方法',
  rule: '每一格为一个 UTC 日，依据已存储的状态变更历史计算。重大中断的分钟全部计为不可用，部分中断的分钟按 30% 计；性能下降与维护计为可用。',
  responseTime: '响应时间（最近 24 小时）',
  responseTimeLabel: (n, a, b, l) => `${n}：最近 24 小时每小时平均响应时间，${a} 至 ${b} 毫秒${l === null ? '' : `，最近一小时 ${l} 毫秒`}`,
  noResponseData: '最近 24 小时没有请求。',
  activeIncidents: '进行中的事件',
  maintenance: '维护',
  upcoming: '即将进行',
  inProgress: '进行中',
  pastIncidents: '历史事件',
  noIncidents: '没有已报告的事件。',
  history: '事件历史',
  historyTitle: '事件历史',
  feeds: 'Atom 与 RSS 订阅',
  api: 'JSON 接口',
  badge: '徽章',
  noIncidentsDay: '无事件',
  incidentsOn: '事件',
  scheduled: (a, b) => `计划时间 ${a} – ${b}`,
  affects: '影响',
  back: '返回状态页',
  language: '语言',
};

export const TEXTS: Record<Lang, Texts> = { en, zh };

const fmt = {
  en: {
    day: new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' }),
    time: new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }),
    month: new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', month: 'long', year: 'numeric' }),
  },
  zh: {
    day: new Intl.DateTimeFormat('zh-CN', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' }),
    time: new Intl.DateTimeFormat('zh-CN', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }),
    month: new Intl.DateTimeFormat('zh-CN', { timeZone: 'UTC', month: 'long', year: 'numeric' }),
  },
};

export const fmtDay = (lang: Lang, t: number): string => fmt[lang].day.format(t);
export const fmtTime = (lang: Lang, t: number): string => fmt[lang].time.format(t);
export const fmtMonth = (lang: Lang, t: number): string => fmt[lang].month.format(t);
