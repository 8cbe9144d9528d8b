import { useState } from 'preact/hooks';
import { nextSort, qs } from './lib/format.ts';
import { useGet, useShown, type Loaded } from './ui.tsx';

// A table's list on the server: its sort (`sort=col` / `sort=-col`, the API's one convention),
// its filters and its pages (next_cursor). Sorting or filtering starts again at the first page.

export interface ListState<T> {
  r: Loaded<T>;
  /** Props for <Table>: the current sort and what a header click does. */
  table: { sort: { key: string; order: 'asc' | 'desc' }; onSort: (key: string) => void };
  /** Props for <Pager>. */
  pager: { next: string | null | undefined; atFirst: boolean; onFirst: () => void; onNext: (c: string) => void };
  /** The sort sent to the server, e.g. "-amount". */
  sort: string;
}

/**
 * GETs `path` with the filters, the sort (starting at `initial`; '' is the server's own order) and
 * the page's cursor; `limit` null for the small unpaged lists (channels, models).
 */
export function useList<T = any>(path: string | null, filters: Record<string, string | number | undefined>, initial: string, limit: number | null = 50): ListState<T> {
  const [sort, setSort] = useState(initial);
  const [cursors, setCursors] = useState<string[]>([]);
  const key = JSON.stringify(filters);
  const [seen, setSeen] = useState(key);
  if (seen !== key) {
    setSeen(key);
    if (cursors.length) setCursors([]);
  }
  const url = path === null ? null : path + qs({ ...filters, sort, limit: limit ?? undefined, cursor: seen === key ? cursors.at(-1) : undefined });
  const r = useGet<T>(url);
  const shown = useShown(sort, r, url);
  const desc = shown.startsWith('-');
  return {
    r,
    sort,
    table: { sort: { key: desc ? shown.slice(1) : shown, order: desc ? 'desc' : 'asc' }, onSort: (k) => (setSort(nextSort(sort, k)), setCursors([])) },
    pager: { next: (r.data as { next_cursor?: string | null } | null)?.next_cursor, atFirst: cursors.length === 0, onFirst: () => setCursors([]), onNext: (c) => setCursors([...cursors, c]) },
  };
}
