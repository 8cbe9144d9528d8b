import type { Lang } from './i18n.ts';

// The words of e-mail subscriptions, in the page's two languages: the sign-up form on /status,
// the pages its links open (confirm, unsubscribe), and the e-mails themselves (emails.ts).

export interface EmailTexts {
  formHeading: string;
  formIntro: string;
  emailLabel: string;
  someComponents: string;
  subscribe: string;
  checkInbox: (page: string) => string;
  checkInboxBody: (email: string) => string;
  confirmHeading: string;
  confirmBody: (email: string, what: string) => string;
  confirmButton: string;
  confirmed: string;
  confirmedBody: (email: string) => string;
  unsubscribeHeading: string;
  unsubscribeBody: (email: string) => string;
  unsubscribeButton: string;
  unsubscribed: string;
  unsubscribedBody: (email: string) => string;
  problem: string;
  allComponents: string;
  back: string;
  // The e-mails.
  confirmSubject: (page: string) => string;
  confirmMail: (page: string, what: string, link: string) => string;
  alreadySubject: (page: string) => string;
  alreadyMail: (page: string, what: string) => string;
  changeSubject: (page: string, component: string, status: string) => string;
  changeMail: (component: string, status: string, previous: string, at: string) => string;
  incidentSubject: (page: string, name: string, phase: string) => string;
  affects: string;
  posted: string;
  details: string;
  statusPage: string;
  footer: (page: string, what: string) => string;
  unsubscribeLink: string;
  /** An error shown on a page, by code (null: the error's own English message). */
  error: (code: string, message: string, retryAfter: unknown) => string | null;
}

const en: EmailTexts = {
  formHeading: 'Get e-mail notifications',
  formIntro: 'Receive an e-mail when a component changes status and when an incident or maintenance is updated. We first send a confirmation link; every e-mail has an unsubscribe link.',
  emailLabel: 'E-mail address',
  someComponents: 'Only some components (none ticked: all)',
  subscribe: 'Subscribe',
  checkInbox: (p) => `Check your inbox · ${p}`,
  checkInboxBody: (e) => `If ${e} can receive notifications, a confirmation e-mail is on its way. Open its link to start receiving notices; nothing is sent until then.`,
  confirmHeading: 'Confirm your subscription',
  confirmBody: (e, w) => `Send status notifications (${w}) to ${e}?`,
  confirmButton: 'Confirm subscription',
  confirmed: 'Subscription confirmed',
  confirmedBody: (e) => `${e} will now receive status notifications. Every e-mail has a link to unsubscribe.`,
  unsubscribeHeading: 'Unsubscribe',
  unsubscribeBody: (e) => `Stop sending status notifications to ${e}?`,
  unsubscribeButton: 'Unsubscribe',
  unsubscribed: 'Unsubscribed',
  unsubscribedBody: (e) => `${e} will receive no more status notifications.`,
  problem: 'That did not work',
  allComponents: 'all components',
  back: 'Back to the status page',
  confirmSubject: (p) => `Confirm your subscription to ${p} status`,
  confirmMail: (p, w, l) => `Someone, hopefully you, asked to receive e-mail notifications from the ${p} status page (${w}).\n\nTo confirm, open this link:\n${l}\n\nIf it was not you, ignore this e-mail: nothing more will be sent.`,
  alreadySubject: (p) => `You are already subscribed to ${p} status`,
  alreadyMail: (p, w) => `Someone, hopefully you, asked again to receive e-mail notifications from the ${p} status page. This address is already subscribed (${w}); nothing changed. To change what you receive, unsubscribe with the link below and sign up again.`,
  changeSubject: (p, c, s) => `[${p} status] ${c}: ${s}`,
  changeMail: (c, s, prev, at) => `${c} is now: ${s} (was: ${prev}), since ${at}.`,
  incidentSubject: (p, n, ph) => `[${p} status] ${n} — ${ph}`,
  affects: 'Affects',
  posted: 'Posted',
  details: 'Details',
  statusPage: 'Status page',
  footer: (p, w) => `You receive this e-mail because you subscribed to the ${p} status page (${w}).`,
  unsubscribeLink: 'Unsubscribe',
  error: () => null,
};

const zh: EmailTexts = {
  formHeading: '订阅邮件通知',
  formIntro: '组件状态变化、事件或维护更新时，我们会发送邮件通知。我们会先发送确认链接；每封邮件都附有退订链接。',
  emailLabel: '邮箱地址',
  someComponents: '仅订阅部分组件（不勾选：全部）',
  subscribe: '订阅',
  checkInbox: (p) => `请查收邮件 · ${p}`,
  checkInboxBody: (e) => `如果 ${e} 可以接收通知，确认邮件已发出。打开其中的链接后才会开始接收通知，在此之前不会发送任何通知。`,
  confirmHeading: '确认订阅',
  confirmBody: (e, w) => `向 ${e} 发送状态通知（${w}）？`,
  confirmButton: '确认订阅',
  confirmed: '订阅已确认',
  confirmedBody: (e) => `${e} 将开始接收状态通知。每封邮件都附有退订链接。`,
  unsubscribeHeading: '退订',
  unsubscribeBody: (e) => `停止向 ${e} 发送状态通知？`,
  unsubscribeButton: '退订',
  unsubscribed: '已退订',
  unsubscribedBody: (e) => `${e} 将不再收到状态通知。`,
  problem: '操作未成功',
  allComponents: '全部组件',
  back: '返回状态页',
  confirmSubject: (p) => `确认订阅 ${p} 服务状态`,
  confirmMail: (p, w, l) => `有人（希望是您本人）申请接收 ${p} 状态页的邮件通知（${w}）。\n\n请打开以下链接确认：\n${l}\n\n如果不是您本人操作，请忽略此邮件，我们不会再发送任何邮件。`,
  alreadySubject: (p) => `您已订阅 ${p} 服务状态`,
  alreadyMail: (p, w) => `有人（希望是您本人）再次申请接收 ${p} 状态页的邮件通知。此地址已订阅（${w}），未做任何更改。如需更改订阅内容，请使用下方链接退订后重新订阅。`,
  changeSubject: (p, c, s) => `[${p} 服务状态] ${c}：${s}`,
  changeMail: (c, s, prev, at) => `${c} 当前状态：${s}（之前：${prev}），自 ${at} 起。`,
  incidentSubject: (p, n, ph) => `[${p} 服务状态] ${n} — ${ph}`,
  affects: '影响',
  posted: '发布于',
  details: '详情',
  statusPage: '状态页',
  footer: (p, w) => `您收到此邮件是因为您订阅了 ${p} 状态页（${w}）。`,
  unsubscribeLink: '退订',
  error: (code, message, retryAfter) =>
    ({
      RATE_LIMITED: `此地址或此网络的订阅请求过多，请在 ${String(retryAfter)} 秒后重试。`,
      VALIDATION: `输入无效（${message}）。`,
      EMAIL_NOT_CONFIGURED: '此网关未配置邮件发送，暂不提供邮件订阅。',
      STATUS_SUBSCRIPTION_LINK_INVALID: '此链接无效、已过期（确认链接有效期 7 天）或对应的订阅已结束；请在状态页重新订阅。',
      STATUS_COMPONENT_NOT_FOUND: '状态页上没有所选的组件。',
    })[code] ?? null,
};

export const EMAIL_TEXTS: Record<Lang, EmailTexts> = { en, zh };
