// The search box (suggestions as you type from /_granary/search/suggest) and the results page
// (/_granary/search; the query language is in src/search/query.rs: words, prefix:, tag.K:V,
// meta.K:V, type:, size>N, modified>DATE).
import { useEffect, useState } from 'preact/hooks';
import { Client, qs } from '../s3';
import { formatDate, formatSize, href, messageOf } from '../util';

interface Hit {
  key: string;
  size: number;
  last_modified: string;
  content_type?: string | null;
}
interface Page {
  total: number;
  objects: Hit[];
  next_page_token?: string | null;
}

interface Filters {
  type?: string;
  minSize?: string;
  maxSize?: string;
  after?: string;
  before?: string;
  tag?: string;
}

/** The filters as terms of the query language (values cannot hold spaces: a term ends there). */
function filterTerms(f: Filters): string[] {
  const v = (x?: string) => x?.trim().replace(/\s+/g, '');
  const out: string[] = [];
  if (v(f.type)) out.push(`type:${v(f.type)}`);
  if (v(f.minSize)) out.push(`size>=${v(f.minSize)}`);
  if (v(f.maxSize)) out.push(`size<=${v(f.maxSize)}`);
  if (v(f.after)) out.push(`modified>${v(f.after)}`);
  if (v(f.before)) out.push(`modified<${v(f.before)}`);
  if (v(f.tag)) out.push(`tag.${v(f.tag)}`);
  return out;
}

export function SearchBox({ client, bucket, initial = '' }: { client: Client; bucket: string; initial?: string }) {
  const [q, setQ] = useState(initial);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  useEffect(() => setQ(initial), [initial, bucket]);
  useEffect(() => {
    // Suggest key completions for a plain prefix; a query with operators gets none.
    if (!q || /[\s:<>=]/.test(q)) return setSuggestions([]);
    let live = true;
    const t = setTimeout(() => {
      client
        .json<{ suggestions: string[] }>('GET', '/_granary/search/suggest' + qs({ bucket, prefix: q, limit: 8 }))
        .then((r) => live && setSuggestions(r.suggestions), () => live && setSuggestions([]));
    }, 150);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [client, bucket, q]);
  const [filters, setFilters] = useState<Filters>({});
  // Arrow keys move between the box and the suggestions; Escape closes them.
  const onKeyDown = (e: KeyboardEvent) => {
    const form = (e.currentTarget as HTMLElement).closest('form');
    const links = Array.from(form?.querySelectorAll<HTMLAnchorElement>('.suggestions a') ?? []);
    const at = links.indexOf(document.activeElement as HTMLAnchorElement);
    if (e.key === 'Escape') {
      setSuggestions([]);
      form?.querySelector<HTMLInputElement>('input[name=q]')?.focus();
    } else if (e.key === 'ArrowDown' && links.length) {
      e.preventDefault();
      links[Math.min(at + 1, links.length - 1)].focus();
    } else if (e.key === 'ArrowUp' && at >= 0) {
      e.preventDefault();
      if (at === 0) form?.querySelector<HTMLInputElement>('input[name=q]')?.focus();
      else links[at - 1].focus();
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const full = [q.trim(), ...filterTerms(filters)].filter(Boolean).join(' ');
    if (full) location.hash = href.search(bucket, full);
  };
  const filter = (name: keyof Filters, label: string, placeholder: string) => (
    <label>
      {label}
      <input name={`filter-${name}`} placeholder={placeholder} value={filters[name] ?? ''} onInput={(e) => setFilters({ ...filters, [name]: e.currentTarget.value })} />
    </label>
  );
  return (
    <form class="search" role="search" onSubmit={submit} onKeyDown={onKeyDown}>
      <div class="search-field">
        <label>
          Search {bucket}
          <input type="search" name="q" autoComplete="off" placeholder="words, prefix:a/b/, tag.k:v, size>1m…" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </label>
        {suggestions.length > 0 && (
          <ul class="suggestions" aria-label="Suggestions">
            {suggestions.map((s) => (
              <li key={s}>
                <a href={s.endsWith('/') ? href.folder(bucket, s) : href.object(bucket, s)}>{s}</a>
              </li>
            ))}
          </ul>
        )}
      </div>
      <button type="submit">Search</button>
      <details class="filters">
        <summary>Filters</summary>
        <div class="filter-grid">
          {filter('type', 'Content type', 'image/* or text/plain')}
          {filter('minSize', 'Size at least', '1m')}
          {filter('maxSize', 'Size at most', '100m')}
          {filter('after', 'Modified after', '2026-01-01')}
          {filter('before', 'Modified before', '2026-12-31')}
          {filter('tag', 'Tag', 'key:value')}
        </div>
      </details>
    </form>
  );
}

export function SearchPage({ client, bucket, q }: { client: Client; bucket: string; q: string }) {
  const [page, setPage] = useState<Page>();
  const [hits, setHits] = useState<Hit[]>([]);
  const [error, setError] = useState<string>();
  const run = async (token?: string) => {
    setError(undefined);
    try {
      const p = await client.json<Page>('GET', '/_granary/search' + qs({ bucket, q, limit: 50, page_token: token }));
      setPage(p);
      setHits((h) => (token ? [...h, ...p.objects] : p.objects));
    } catch (e) {
      setError(messageOf(e));
    }
  };
  useEffect(() => {
    setPage(undefined);
    setHits([]);
    run();
  }, [client, bucket, q]);
  return (
    <section aria-labelledby="search-title">
      <nav aria-label="Breadcrumbs" class="crumbs">
        <ol>
          <li>
            <a href={href.buckets()}>Buckets</a>
          </li>
          <li>
            <a href={href.folder(bucket)}>{bucket}</a>
          </li>
          <li aria-current="page">search</li>
        </ol>
      </nav>
      <h1 id="search-title">Search results</h1>
      <SearchBox client={client} bucket={bucket} initial={q} />
      {error && <p role="alert" class="error">{error}</p>}
      {page && (
        <p aria-live="polite" class="count">
          {page.total} match{page.total === 1 ? '' : 'es'} for “{q}”
        </p>
      )}
      <table class="list results">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col" class="num">Size</th>
            <th scope="col" class="date">Modified</th>
            <th scope="col">Type</th>
          </tr>
        </thead>
        <tbody>
          {hits.map((h) => (
            <tr key={h.key}>
              <td>
                <a class="file" href={href.object(bucket, h.key)}>
                  <span class="icon" aria-hidden="true" />
                  {h.key}
                </a>
              </td>
              <td class="num">{formatSize(h.size)}</td>
              <td class="date">{formatDate(h.last_modified)}</td>
              <td>{h.content_type ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page?.next_page_token && (
        <button type="button" onClick={() => run(page.next_page_token ?? undefined)}>
          More results
        </button>
      )}
    </section>
  );
}
