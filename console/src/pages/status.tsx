// The status page: /_granary/admin/status (collector, outbox and consumer lag, gateways, dedup),
// falling back to /_granary/status on a gateway without the admin API.
import { useState } from 'preact/hooks';
import { ApiError, Client } from '../s3';
import { formatSize, messageOf, useLoad } from '../util';

/** A status value; `name` (its field) picks the unit: bytes, a ratio. */
function Value({ v, name = '' }: { v: unknown; name?: string }) {
  if (typeof v === 'number' && /bytes$/.test(name)) return <span>{`${formatSize(v)} (${v})`}</span>;
  if (typeof v === 'number' && /ratio$/.test(name)) return <span>{v.toFixed(3)}</span>;
  if (v === null || v === undefined) return <span class="muted">—</span>;
  if (Array.isArray(v)) {
    if (v.length === 0) return <span class="muted">none</span>;
    return (
      <ol class="values">
        {v.map((x, i) => (
          <li key={i}>
            <Value v={x} />
          </li>
        ))}
      </ol>
    );
  }
  if (typeof v === 'object') {
    return (
      <dl class="meta">
        {Object.entries(v as Record<string, unknown>).map(([k, x]) => (
          <>
            <dt>{k.replace(/_/g, ' ')}</dt>
            <dd>
              <Value v={x} name={k} />
            </dd>
          </>
        ))}
      </dl>
    );
  }
  return <span>{String(v)}</span>;
}

export function Status({ client }: { client: Client }) {
  const [status, error, reload] = useLoad(async () => {
    try {
      return await client.json<Record<string, unknown>>('GET', '/_granary/admin/status');
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.code === 'NoSuchBucket')) return client.json<Record<string, unknown>>('GET', '/_granary/status');
      throw e instanceof ApiError && e.status === 403 ? new Error('Only the admin user may read the status.') : e;
    }
  }, [client]);
  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">Status</h1>
      <button type="button" onClick={reload}>
        Refresh
      </button>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Maintenance client={client} onDone={reload} />
      {status && (
        <div class="panels status">
          {Object.entries(status).map(([k, v]) => (
            <section class="panel" key={k} aria-label={k}>
              <h2>{k.replace(/_/g, ' ')}</h2>
              <Value v={v} name={k} />
            </section>
          ))}
        </div>
      )}
    </section>
  );
}

/** The admin API's maintenance jobs, run now by this gateway; the answer is shown as it is. */
function Maintenance({ client, onDone }: { client: Client; onDone: () => void }) {
  const [busy, setBusy] = useState<string>();
  const [result, setResult] = useState<{ title: string; value: unknown }>();
  const [error, setError] = useState<string>();
  const run = async (title: string, path: string, body?: unknown) => {
    setBusy(title);
    setError(undefined);
    setResult(undefined);
    try {
      setResult({ title, value: await client.json('POST', `/_granary/admin/${path}`, body) });
      onDone();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 403 ? 'Only the admin user may run maintenance jobs.' : messageOf(e));
    } finally {
      setBusy(undefined);
    }
  };
  const button = (title: string, path: string, body?: unknown) => (
    <button type="button" disabled={!!busy} onClick={() => run(title, path, body)}>
      {busy === title ? `${title}…` : title}
    </button>
  );
  return (
    <section aria-labelledby="maintenance-title" class="panel">
      <h2 id="maintenance-title">Maintenance</h2>
      <div class="toolbar">
        {button('Garbage collection (dry run)', 'gc', { dry_run: true })}
        {button('Garbage collection', 'gc', { dry_run: false })}
        {button('Lifecycle pass', 'lifecycle', {})}
        {button('Rebuild search index', 'index/rebuild')}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {result && (
        <div role="status">
          <h3>{result.title}</h3>
          <Value v={result.value} />
        </div>
      )}
    </section>
  );
}
