import { useEffect, useState } from 'preact/hooks';

export function formatSize(n: number): string {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDate(s: string | number | undefined): string {
  if (s === undefined || s === '') return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

// ---- hash routes: #/b/BUCKET/PREFIX, #/o/BUCKET/KEY, #/search/BUCKET?q=Q, #/admin, ... ----

export interface Route {
  page: string;
  parts: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const [page = '', ...parts] = path.split('/').map((p) => decodeURIComponent(p));
  return { page, parts, query: new URLSearchParams(query) };
}

export const href = {
  buckets: () => '#/',
  folder: (bucket: string, prefix = '') => `#/b/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}`,
  object: (bucket: string, key: string) => `#/o/${encodeURIComponent(bucket)}/${encodeURIComponent(key)}`,
  search: (bucket: string, q: string) => `#/search/${encodeURIComponent(bucket)}?q=${encodeURIComponent(q)}`,
  users: () => '#/admin',
  user: (name: string) => `#/admin/${encodeURIComponent(name)}`,
  status: () => '#/status',
  settings: (bucket: string) => `#/settings/${encodeURIComponent(bucket)}`,
};

export function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parseRoute(hash);
}

/** Runs an async load when `deps` change; returns [data, error, reload]. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [T | undefined, string | undefined, () => void] {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    load().then(
      (d) => live && setData(d),
      (e) => live && setError(messageOf(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [data, error, () => setTick((t) => t + 1)];
}
