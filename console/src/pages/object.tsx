// One object: its metadata (HEAD), tags (view and edit), versions (restore = CopyObject from
// the version, delete a version or a delete marker) and its audit trail.
import { useState } from 'preact/hooks';
import { Client, objectPath, qs, Tag } from '../s3';
import { formatDate, formatSize, href, messageOf, useLoad } from '../util';
import { Breadcrumbs } from './folder';
import { MoveObject } from './move';

interface AuditEntry {
  time_ms: number;
  op: string;
  version_id?: string | null;
  outcome: string;
  actor?: { user?: string; access_key?: string; source_ip?: string };
  details?: [string, string][];
}

export function ObjectDetails({ client, bucket, objectKey }: { client: Client; bucket: string; objectKey: string }) {
  const slash = objectKey.lastIndexOf('/');
  const folder = objectKey.slice(0, slash + 1);
  const name = objectKey.slice(slash + 1);
  const [gen, setGen] = useState(0);
  const reload = () => setGen((g) => g + 1);
  const [head, headError] = useLoad(() => client.head(bucket, objectKey), [client, bucket, objectKey, gen]);
  const [error, setError] = useState<string>();

  const download = async () => {
    const a = document.createElement('a');
    a.href = await client.presign(objectPath(bucket, objectKey));
    a.download = name;
    a.click();
  };
  const remove = async () => {
    if (!confirm(`Delete ${objectKey}?`)) return;
    try {
      await client.deleteObject(bucket, objectKey);
      location.hash = href.folder(bucket, folder);
    } catch (e) {
      setError(messageOf(e));
    }
  };

  const meta: [string, string][] = [];
  head?.forEach((v, k) => {
    if (/^(content-|etag|last-modified|x-amz-)/.test(k) && k !== 'x-amz-request-id' && k !== 'x-amz-id-2') meta.push([k, v]);
  });
  meta.sort();

  return (
    <section aria-labelledby="object-title">
      <Breadcrumbs bucket={bucket} prefix={folder} last={name} />
      <h1 id="object-title">{name}</h1>
      <div class="toolbar">
        <button type="button" onClick={download}>
          Download
        </button>
        <button type="button" class="danger" onClick={remove}>
          Delete
        </button>
      </div>
      <MoveObject key={objectKey} client={client} bucket={bucket} objectKey={objectKey} />
      {error && <p role="alert" class="error">{error}</p>}
      <div class="panels">
        <section aria-labelledby="meta-title" class="panel">
          <h2 id="meta-title">Metadata</h2>
          {headError && <p role="alert" class="error">{headError}</p>}
          <dl class="meta">
            {meta.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{k === 'content-length' ? `${formatSize(Number(v))} (${v} bytes)` : v}</dd>
              </>
            ))}
          </dl>
        </section>
        <Tags client={client} bucket={bucket} objectKey={objectKey} gen={gen} />
        <Protection client={client} bucket={bucket} objectKey={objectKey} gen={gen} />
      </div>
      <Versions client={client} bucket={bucket} objectKey={objectKey} gen={gen} onChange={reload} />
      <Audit client={client} bucket={bucket} objectKey={objectKey} gen={gen} />
    </section>
  );
}

function Tags({ client, bucket, objectKey, gen }: { client: Client; bucket: string; objectKey: string; gen: number }) {
  const [tags, error, reload] = useLoad(() => client.getTags(bucket, objectKey), [client, bucket, objectKey, gen]);
  const [draft, setDraft] = useState<Tag[]>();
  const [saveError, setSaveError] = useState<string>();
  const [saved, setSaved] = useState(false);
  const rows = draft ?? tags ?? [];
  const edit = (i: number, p: Partial<Tag>) => setDraft(rows.map((t, j) => (j === i ? { ...t, ...p } : t)));
  const save = async (e: Event) => {
    e.preventDefault();
    setSaveError(undefined);
    try {
      await client.putTags(bucket, objectKey, rows.filter((t) => t.key.trim()));
      setDraft(undefined);
      setSaved(true);
      reload();
    } catch (err) {
      setSaveError(messageOf(err));
    }
  };
  return (
    <section aria-labelledby="tags-title" class="panel">
      <h2 id="tags-title">Tags</h2>
      {error && <p role="alert" class="error">{error}</p>}
      <form onSubmit={save} class="tags">
        {rows.length === 0 && <p>No tags.</p>}
        {rows.map((t, i) => (
          <div class="tag-row" key={i}>
            <label>
              Tag key {i + 1}
              <input name={`tagKey${i}`} value={t.key} onInput={(e) => (setSaved(false), edit(i, { key: e.currentTarget.value }))} />
            </label>
            <label>
              Tag value {i + 1}
              <input name={`tagValue${i}`} value={t.value} onInput={(e) => (setSaved(false), edit(i, { value: e.currentTarget.value }))} />
            </label>
            <button type="button" aria-label={`Remove tag ${t.key || i + 1}`} onClick={() => setDraft(rows.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <div class="toolbar">
          <button type="button" onClick={() => setDraft([...rows, { key: '', value: '' }])}>
            Add tag
          </button>
          <button type="submit" disabled={!draft}>
            Save tags
          </button>
          {saved && <span role="status">Tags saved.</span>}
        </div>
        {saveError && <p role="alert" class="error">{saveError}</p>}
      </form>
    </section>
  );
}

function Protection({ client, bucket, objectKey, gen }: { client: Client; bucket: string; objectKey: string; gen: number }) {
  const [p, error, reload] = useLoad(() => client.protection(bucket, objectKey), [client, bucket, objectKey, gen]);
  const [actionError, setActionError] = useState<string>();
  const toggle = async () => {
    setActionError(undefined);
    try {
      await client.setLegalHold(bucket, objectKey, p?.legalHold !== 'ON');
      reload();
    } catch (e) {
      setActionError(messageOf(e));
    }
  };
  return (
    <section aria-labelledby="protection-title" class="panel">
      <h2 id="protection-title">Retention and legal hold</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {p && !p.lock && <p class="muted">Object lock is not enabled on this bucket.</p>}
      {p?.lock && (
        <dl class="meta">
          <dt>retention</dt>
          <dd>{p.mode ? `${p.mode} until ${formatDate(p.until)}` : 'none'}</dd>
          <dt>legal hold</dt>
          <dd>{p.legalHold ?? 'OFF'}</dd>
        </dl>
      )}
      {p?.lock && (
        <button type="button" onClick={toggle}>
          {p.legalHold === 'ON' ? 'Release legal hold' : 'Place legal hold'}
        </button>
      )}
      {actionError && <p role="alert" class="error">{actionError}</p>}
    </section>
  );
}

function Versions({ client, bucket, objectKey, gen, onChange }: { client: Client; bucket: string; objectKey: string; gen: number; onChange: () => void }) {
  const [versions, error] = useLoad(() => client.versions(bucket, objectKey), [client, bucket, objectKey, gen]);
  const [actionError, setActionError] = useState<string>();
  const act = async (f: () => Promise<unknown>) => {
    setActionError(undefined);
    try {
      await f();
      onChange();
    } catch (e) {
      setActionError(messageOf(e));
    }
  };
  const real = versions?.some((v) => v.versionId && v.versionId !== 'null') ? versions : [];
  return (
    <section aria-labelledby="versions-title" class="panel">
      <h2 id="versions-title">Versions</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {actionError && <p role="alert" class="error">{actionError}</p>}
      {versions && real.length === 0 && <p>No versions: versioning is off for this bucket (enable it on the bucket's page).</p>}
      {real.length > 0 && (
        <table class="list versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Modified</th>
              <th scope="col" class="num">Size</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {real.map((v) => (
              <tr key={v.versionId} data-version={v.versionId}>
                <td>
                  <code>{v.versionId}</code>
                  {v.isLatest && <span class="badge">current</span>}
                  {v.deleteMarker && <span class="badge warn">delete marker</span>}
                </td>
                <td>{formatDate(v.lastModified)}</td>
                <td class="num">{v.deleteMarker ? '' : formatSize(v.size)}</td>
                <td class="actions">
                  {!v.isLatest && !v.deleteMarker && (
                    <button type="button" onClick={() => act(() => client.restoreVersion(bucket, objectKey, v.versionId))} aria-label={`Restore version ${v.versionId}`}>
                      Restore
                    </button>
                  )}
                  <button
                    type="button"
                    class="danger"
                    onClick={() => confirm(`Delete ${v.deleteMarker ? 'delete marker' : 'version'} ${v.versionId}?`) && act(() => client.deleteObject(bucket, objectKey, v.versionId))}
                    aria-label={`Delete ${v.deleteMarker ? 'delete marker' : 'version'} ${v.versionId}`}
                  >
                    {v.deleteMarker ? 'Remove marker' : 'Delete version'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Audit({ client, bucket, objectKey, gen }: { client: Client; bucket: string; objectKey: string; gen: number }) {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [token, setToken] = useState<string | null>();
  const [, error] = useLoad(async () => {
    const page = await client.json<{ entries: AuditEntry[]; next_page_token?: string | null }>('GET', '/_granary/audit/object' + qs({ bucket, key: objectKey, limit: 50 }));
    setEntries(page.entries);
    setToken(page.next_page_token);
    return page;
  }, [client, bucket, objectKey, gen]);
  const more = async () => {
    const page = await client.json<{ entries: AuditEntry[]; next_page_token?: string | null }>(
      'GET',
      '/_granary/audit/object' + qs({ bucket, key: objectKey, limit: 50, page_token: token ?? undefined }),
    );
    setEntries((e) => [...e, ...page.entries]);
    setToken(page.next_page_token);
  };
  return (
    <section aria-labelledby="audit-title" class="panel">
      <h2 id="audit-title">Audit trail</h2>
      {error && <p role="alert" class="error">{error}</p>}
      <table class="list audit">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Operation</th>
            <th scope="col">User</th>
            <th scope="col">Outcome</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e, i) => (
            <tr key={i}>
              <td>{formatDate(e.time_ms)}</td>
              <td>{e.op}</td>
              <td>{e.actor?.user ?? e.actor?.access_key ?? ''}</td>
              <td>{e.outcome}</td>
              <td class="details">{(e.details ?? []).map(([k, v]) => `${k}=${v}`).join(' ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {token && (
        <button type="button" onClick={more}>
          Older entries
        </button>
      )}
    </section>
  );
}
