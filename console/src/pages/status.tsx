// The status page: /_granary/admin/status (collector, outbox and consumer lag, gateways, dedup),
// falling back to /_granary/status on a gateway without the admin API.
import { ApiError, Client } from '../s3';
import { messageOf, useLoad } from '../util';

function Value({ v }: { v: unknown }) {
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
              <Value v={x} />
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
      throw e;
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
          {error.includes('Access') ? 'Only the admin user may read the status.' : messageOf(error)}
        </p>
      )}
      {status && (
        <div class="panels status">
          {Object.entries(status).map(([k, v]) => (
            <section class="panel" key={k} aria-label={k}>
              <h2>{k.replace(/_/g, ' ')}</h2>
              <Value v={v} />
            </section>
          ))}
        </div>
      )}
    </section>
  );
}
