import { useState } from 'preact/hooks';
import { Client } from '../s3';
import { formatDate, formatSize, href, messageOf, useLoad } from '../util';

interface UsageLine {
  name: string;
  usage: { bytes: number; objects: number };
}

/** Sizes and object counts per bucket from the admin API's usage report (the admin's view;
 * absent for other users or a gateway without the route, and then the columns are left out). */
async function usageByBucket(client: Client): Promise<Map<string, UsageLine['usage']> | null> {
  try {
    const r = await client.json<{ buckets?: UsageLine[] }>('GET', '/_granary/admin/usage');
    return new Map((r.buckets ?? []).map((l) => [l.name, l.usage]));
  } catch {
    return null;
  }
}

export function Buckets({ client }: { client: Client }) {
  const [buckets, error, reload] = useLoad(() => client.listBuckets(), [client]);
  const [usage] = useLoad(() => usageByBucket(client), [client]);
  const [name, setName] = useState('');
  const [createError, setCreateError] = useState<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    setCreateError(undefined);
    try {
      await client.createBucket(name.trim());
      setName('');
      reload();
    } catch (err) {
      setCreateError(messageOf(err));
    }
  };
  return (
    <section aria-labelledby="buckets-title">
      <h1 id="buckets-title">Buckets</h1>
      <form class="inline" onSubmit={create}>
        <label>
          New bucket name
          <input name="bucketName" required pattern="[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit">Create bucket</button>
      </form>
      {createError && <p role="alert" class="error">{createError}</p>}
      {error && <p role="alert" class="error">{error}</p>}
      {!buckets && !error && <p aria-live="polite">Loading…</p>}
      {buckets && buckets.length === 0 && <p>No buckets yet.</p>}
      {buckets && buckets.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              {usage && (
                <>
                  <th scope="col" class="num">
                    Size
                  </th>
                  <th scope="col" class="num">
                    Objects
                  </th>
                </>
              )}
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {buckets.map((b) => (
              <tr key={b.name}>
                <td>
                  <a class="folder" href={href.folder(b.name)}>
                  <span class="icon" aria-hidden="true" />
                    {b.name}
                  </a>
                </td>
                {usage && (
                  <>
                    <td class="num">{formatSize(usage.get(b.name)?.bytes ?? 0)}</td>
                    <td class="num">{usage.get(b.name)?.objects ?? 0}</td>
                  </>
                )}
                <td>{formatDate(b.created)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
