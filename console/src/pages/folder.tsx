// One folder of a bucket: a delimiter listing loaded a page at a time ("Load more" follows the
// continuation token; nothing else of the bucket is fetched), folders first, sortable within
// what is loaded; upload (picker or drag and drop), create folder, download, delete.
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Client, ObjectEntry, objectPath } from '../s3';
import { pendingUploads, upload } from '../upload';
import { formatDate, formatSize, href, messageOf } from '../util';
import { SearchBox } from './search';
import { MoveFolder } from './move';

export const PAGE_SIZE = 200;

type SortKey = 'name' | 'size' | 'date';

interface UploadState {
  id: number;
  name: string;
  loaded: number;
  total: number;
  error?: string;
  done?: boolean;
  /** Bytes an earlier (interrupted) upload of the file had sent already. */
  resumed?: number;
}

let uploadIds = 0;

export function Breadcrumbs({ bucket, prefix, last }: { bucket: string; prefix: string; last?: string }) {
  const segs = prefix.split('/').filter(Boolean);
  return (
    <nav aria-label="Breadcrumbs" class="crumbs">
      <ol>
        <li>
          <a href={href.buckets()}>Buckets</a>
        </li>
        <li>
          <a href={href.folder(bucket)} aria-current={!segs.length && !last ? 'page' : undefined}>
            {bucket}
          </a>
        </li>
        {segs.map((s, i) => (
          <li key={i}>
            <a href={href.folder(bucket, segs.slice(0, i + 1).join('/') + '/')} aria-current={i === segs.length - 1 && !last ? 'page' : undefined}>
              {s}
            </a>
          </li>
        ))}
        {last && <li aria-current="page">{last}</li>}
      </ol>
    </nav>
  );
}

export function Folder({ client, bucket, prefix }: { client: Client; bucket: string; prefix: string }) {
  const [folders, setFolders] = useState<string[]>([]);
  const [objects, setObjects] = useState<ObjectEntry[]>([]);
  const [token, setToken] = useState<string>();
  const [loading, setLoading] = useState(false);
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<string>();
  const [sort, setSort] = useState<{ key: SortKey; asc: boolean }>({ key: 'name', asc: true });
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [folderName, setFolderName] = useState('');
  const [dragging, setDragging] = useState(false);
  const [generation, setGeneration] = useState(0);

  // A page that arrives after the user moved to another folder is dropped.
  const current = useRef('');
  const loadPage = async (next: string | undefined, reset: boolean) => {
    const here = `${bucket}/${prefix}/${generation}`;
    current.current = here;
    setLoading(true);
    setError(undefined);
    try {
      const page = await client.listFolder(bucket, prefix, next, PAGE_SIZE);
      if (current.current !== here) return;
      setFolders((f) => (reset ? page.folders : [...f, ...page.folders]));
      setObjects((o) => (reset ? page.objects : [...o, ...page.objects]));
      setToken(page.next);
      setComplete(!page.next);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setFolders([]);
    setObjects([]);
    setComplete(false);
    loadPage(undefined, true);
  }, [client, bucket, prefix, generation]);

  const refresh = () => setGeneration((g) => g + 1);

  const sorted = useMemo(() => {
    const dir = sort.asc ? 1 : -1;
    const files = objects.filter((o) => o.key !== prefix); // the folder's own marker object
    files.sort((a, b) => {
      if (sort.key === 'size') return (a.size - b.size) * dir || a.key.localeCompare(b.key);
      if (sort.key === 'date') return a.lastModified.localeCompare(b.lastModified) * dir || a.key.localeCompare(b.key);
      return (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) * dir;
    });
    const dirs = [...folders].sort((a, b) => (sort.key === 'name' ? (a < b ? -1 : a > b ? 1 : 0) * dir : a < b ? -1 : 1));
    return { dirs, files };
  }, [folders, objects, sort, prefix]);

  const sortButton = (key: SortKey, label: string) => (
    <button type="button" class="sort" onClick={() => setSort((s) => ({ key, asc: s.key === key ? !s.asc : true }))}>
      {label}
      {sort.key === key ? (sort.asc ? ' ▲' : ' ▼') : ''}
    </button>
  );
  const ariaSort = (key: SortKey) => (sort.key === key ? (sort.asc ? 'ascending' : 'descending') : 'none');

  const startUploads = async (files: FileList | File[]) => {
    const list = Array.from(files);
    await Promise.all(
      list.map(async (file) => {
        const id = ++uploadIds;
        const update = (p: Partial<UploadState>) => setUploads((us) => us.map((u) => (u.id === id ? { ...u, ...p } : u)));
        setUploads((us) => [...us, { id, name: file.name, loaded: 0, total: file.size }]);
        let first = true;
        try {
          const onProgress = (p: { loaded: number; total: number }) => {
            // The first report of a resumed upload is what the parts kept from before hold.
            update(first && p.loaded > 0 ? { loaded: p.loaded, total: p.total, resumed: p.loaded } : { loaded: p.loaded, total: p.total });
            first = false;
          };
          await upload(client, bucket, prefix + file.name, file, onProgress, new AbortController().signal);
          update({ done: true, loaded: file.size });
        } catch (e) {
          update({ error: messageOf(e) });
        }
      }),
    );
    refresh();
  };

  const createFolder = async (e: Event) => {
    e.preventDefault();
    const name = folderName.trim().replace(/\/+$/, '');
    if (!name) return;
    try {
      await client.putObject(bucket, `${prefix}${name}/`, '');
      setFolderName('');
      location.hash = href.folder(bucket, `${prefix}${name}/`);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const download = async (key: string) => {
    const url = await client.presign(objectPath(bucket, key));
    const a = document.createElement('a');
    a.href = url;
    a.download = key.split('/').pop() ?? 'download';
    a.click();
  };

  const remove = async (key: string) => {
    if (!confirm(`Delete ${key}?`)) return;
    try {
      await client.deleteObject(bucket, key);
      setObjects((os) => os.filter((o) => o.key !== key));
    } catch (e) {
      setError(messageOf(e));
    }
  };

  // Rows keep one actions object, so a loaded row renders once, not again with every page.
  const actionsNow = useRef({ download, remove });
  actionsNow.current = { download, remove };
  const rowActions = useMemo<RowActions>(() => ({ download: (k) => actionsNow.current.download(k), remove: (k) => actionsNow.current.remove(k) }), []);

  const loadedCount = sorted.dirs.length + sorted.files.length;
  const active = new Set(uploads.filter((u) => !u.done && !u.error).map((u) => prefix + u.name));
  const interrupted = pendingUploads().filter((p) => p.bucket === bucket && p.key === prefix + p.name && !active.has(p.key));
  return (
    <section
      aria-labelledby="folder-title"
      class={dragging ? 'dropzone dragging' : 'dropzone'}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        if (e.dataTransfer?.files.length) startUploads(e.dataTransfer.files);
      }}
    >
      <Breadcrumbs bucket={bucket} prefix={prefix} />
      <h1 id="folder-title">{prefix ? prefix.split('/').filter(Boolean).pop() : bucket}</h1>
      <SearchBox client={client} bucket={bucket} />
      <div class="toolbar">
        <label class="button">
          Upload files
          <input
            type="file"
            multiple
            class="visually-hidden"
            name="files"
            onChange={(e) => {
              const input = e.currentTarget;
              if (input.files?.length) startUploads(input.files).then(() => (input.value = ''));
            }}
          />
        </label>
        <form class="inline" onSubmit={createFolder}>
          <label>
            New folder
            <input name="folderName" value={folderName} onInput={(e) => setFolderName(e.currentTarget.value)} />
          </label>
          <button type="submit">Create folder</button>
        </form>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
        {!prefix && <VersioningToggle client={client} bucket={bucket} />}
        {!prefix && (
          <a class="button-link" href={href.settings(bucket)}>
            Bucket settings
          </a>
        )}
      </div>
      {prefix && (
        <details class="folder-actions">
          <summary>Move this folder</summary>
          <MoveFolder key={prefix} client={client} bucket={bucket} prefix={prefix} />
        </details>
      )}
      <p class="hint">Drop files anywhere here to upload them into this folder.</p>
      {interrupted.length > 0 && (
        <div class="interrupted" role="note">
          <p>Interrupted uploads here: choose the same file again (picker or drop) to resume where it stopped.</p>
          <ul>
            {interrupted.map((p) => (
              <li key={p.uploadId}>
                {p.name} ({formatSize(p.size)})
              </li>
            ))}
          </ul>
        </div>
      )}
      {uploads.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {uploads.map((u) => {
            const pct = u.total ? Math.floor((u.loaded / u.total) * 100) : 100;
            return (
              <li key={u.id} data-upload={u.name}>
                <span class="name">{u.name}</span>
                <progress max={100} value={pct} aria-label={`Upload of ${u.name}`} />
                <span class="pct" aria-live="polite">
                  {u.error ? `failed: ${u.error}` : u.done ? 'done' : `${pct}%`}
                  {u.resumed ? ` (resumed at ${Math.floor((u.resumed / u.total) * 100)}%)` : ''}
                </span>
              </li>
            );
          })}
        </ul>
      )}
      {error && <p role="alert" class="error">{error}</p>}
      <table class="list objects">
        <thead>
          <tr>
            <th scope="col" aria-sort={ariaSort('name')}>
              {sortButton('name', 'Name')}
            </th>
            <th scope="col" aria-sort={ariaSort('size')} class="num">
              {sortButton('size', 'Size')}
            </th>
            <th scope="col" aria-sort={ariaSort('date')} class="date">
              {sortButton('date', 'Modified')}
            </th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sorted.dirs.map((d) => (
            <tr key={'d' + d} data-kind="folder">
              <td>
                <a class="folder" href={href.folder(bucket, d)}>
                  <span class="icon" aria-hidden="true" />
                  {d.slice(prefix.length)}
                </a>
              </td>
              <td class="num">—</td>
              <td class="date" />
              <td />
            </tr>
          ))}
          {sorted.files.map((o) => (
            <ObjectRow key={'o' + o.key} bucket={bucket} prefix={prefix} o={o} actions={rowActions} />
          ))}
        </tbody>
      </table>
      <p class="count" aria-live="polite">
        {loadedCount === 0 && complete ? 'This folder is empty.' : `${loadedCount} item${loadedCount === 1 ? '' : 's'} loaded${complete ? ' (all)' : ''}`}
      </p>
      {!complete && (
        <button type="button" onClick={() => loadPage(token, false)} disabled={loading}>
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}

interface RowActions {
  download: (key: string) => void;
  remove: (key: string) => void;
}

interface RowProps {
  bucket: string;
  prefix: string;
  o: ObjectEntry;
  actions: RowActions;
}

/** One object's row; re-rendered only when its entry changes (large folders append pages). */
class ObjectRow extends Component<RowProps> {
  shouldComponentUpdate(next: RowProps) {
    return next.o !== this.props.o || next.bucket !== this.props.bucket || next.prefix !== this.props.prefix;
  }
  render({ bucket, prefix, o, actions }: RowProps) {
    return (
      <tr data-kind="object">
        <td>
          <a class="file" href={href.object(bucket, o.key)}>
            <span class="icon" aria-hidden="true" />
            {o.key.slice(prefix.length)}
          </a>
        </td>
        <td class="num">{formatSize(o.size)}</td>
        <td class="date">{formatDate(o.lastModified)}</td>
        <td class="actions">
          <button type="button" onClick={() => actions.download(o.key)} aria-label={`Download ${o.key}`}>
            Download
          </button>
          <button type="button" class="danger" onClick={() => actions.remove(o.key)} aria-label={`Delete ${o.key}`}>
            Delete
          </button>
        </td>
      </tr>
    );
  }
}

export function VersioningToggle({ client, bucket }: { client: Client; bucket: string }) {
  const [status, setStatus] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    client.getVersioning(bucket).then(setStatus, (e) => setError(messageOf(e)));
  }, [client, bucket]);
  if (error) return <span class="error">{error}</span>;
  if (!status) return null;
  const enabled = status === 'Enabled';
  const toggle = async () => {
    try {
      await client.setVersioning(bucket, enabled ? 'Suspended' : 'Enabled');
      setStatus(enabled ? 'Suspended' : 'Enabled');
    } catch (e) {
      setError(messageOf(e));
    }
  };
  return (
    <span class="versioning">
      Versioning: <strong>{status}</strong>{' '}
      <button type="button" onClick={toggle}>
        {enabled ? 'Suspend versioning' : 'Enable versioning'}
      </button>
    </span>
  );
}
