import { useState } from 'preact/hooks';
import { Client } from '../s3';
import { formatDate, href, messageOf, useLoad } from '../util';

export function Buckets({ client }: { client: Client }) {
  const [buckets, error, reload] = useLoad(() => client.listBuckets(), [client]);
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
                <td>{formatDate(b.created)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
