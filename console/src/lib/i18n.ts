// English and Chinese. Strings are keyed by their English text; a string missing from a
// dictionary shows in English (test/unit/console/i18n.test.ts checks that zh has every text).
import { ZH } from './zh.ts';

export const LANGS = ['en', 'zh'] as const;
export type Lang = (typeof LANGS)[number];

export const LOCALES: Record<Lang, string> = { en: 'en-GB', zh: 'zh-CN' };

/** The language to start with: a saved choice, else the browser's first language we have. */
export function pickLang(saved: string | null, browser: readonly string[]): Lang {
  if (saved === 'en' || saved === 'zh') return saved;
  for (const l of browser) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'zh') return 'zh';
    if (base === 'en') return 'en';
  }
  return 'en';
}

/** The text in `lang`, with {name} placeholders filled. */
export function translate(lang: Lang, text: string, vars?: Record<string, string | number>): string {
  let s = lang === 'zh' ? (ZH[text] ?? text) : text;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}
