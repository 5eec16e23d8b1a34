// A bucket's settings: versioning, and each configuration S3 keeps as an XML document
// (tags, lifecycle, object lock, notifications, CORS, policy as JSON) viewed and edited as
// text, exactly as the S3 API takes it; delete the bucket.
import { useRef, useState } from 'preact/hooks';
import { ApiError, Client, enc } from '../s3';
import { href, messageOf, useLoad } from '../util';
import { VersioningToggle } from './folder';

interface Setting {
  sub: string;
  title: string;
  contentType: string;
  deletable: boolean;
  example: string;
}

const SETTINGS: Setting[] = [
  {
    sub: 'tagging',
    title: 'Tags',
    contentType: 'application/xml',
    deletable: true,
    example: '<Tagging><TagSet><Tag><Key>team</Key><Value>data</Value></Tag></TagSet></Tagging>',
  },
  {
    sub: 'lifecycle',
    title: 'Lifecycle rules',
    contentType: 'application/xml',
    deletable: true,
    example:
      '<LifecycleConfiguration><Rule><ID>expire-tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>',
  },
  { sub: 'object-lock', title: 'Object lock', contentType: 'application/xml', deletable: false, example: '' },
  {
    sub: 'notification',
    title: 'Event notifications',
    contentType: 'application/xml',
    deletable: false,
    example: '<NotificationConfiguration></NotificationConfiguration>',
  },
  {
    sub: 'cors',
    title: 'CORS rules',
    contentType: 'application/xml',
    deletable: true,
    example:
      '<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>',
  },
  { sub: 'policy', title: 'Bucket policy', contentType: 'application/json', deletable: true, example: '' },
];

/** Indents an XML document for reading (S3 answers it on one line). */
function prettyXml(text: string): string {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) return text;
  const out: string[] = [];
  const walk = (el: Element, depth: number) => {
    const pad = '  '.repeat(depth);
    const kids = Array.from(el.children);
    if (!kids.length) return out.push(`${pad}<${el.localName}>${el.textContent ?? ''}</${el.localName}>`);
    out.push(`${pad}<${el.localName}>`);
    kids.forEach((k) => walk(k, depth + 1));
    out.push(`${pad}</${el.localName}>`);
  };
  walk(doc.documentElement, 0);
  return out.join('\n');
}

function SettingEditor({ client, bucket, s }: { client: Client; bucket: string; s: Setting }) {
  const path = `/${enc(bucket)}?${s.sub}`;
  const [text, setText] = useState<string>();
  const [note, setNote] = useState<string>();
  // What the user typed is not replaced by a load that lands after it.
  const edited = useRef(false);
  const show = (t: string) => {
    if (!edited.current) setText(t);
  };
  const [loaded, loadError, reload] = useLoad(async () => {
    try {
      const body = await (await client.request('GET', path)).text();
      const shown = s.contentType === 'application/json' ? JSON.stringify(JSON.parse(body), null, 2) : prettyXml(body);
      show(shown);
      return shown;
    } catch (e) {
      // 404 (NoSuch...Configuration, NoSuchTagSet, ...) is "none set".
      if (e instanceof ApiError && e.status === 404) {
        show('');
        return '';
      }
      throw e;
    }
  }, [client, bucket, s.sub]);
  const [error, setError] = useState<string>();
  const act = async (f: () => Promise<unknown>, done: string) => {
    setError(undefined);
    setNote(undefined);
    try {
      await f();
      setNote(done);
      edited.current = false;
      reload();
    } catch (e) {
      setError(messageOf(e));
    }
  };
  const id = `setting-${s.sub}`;
  return (
    <section class="panel" aria-labelledby={id}>
      <h2 id={id}>{s.title}</h2>
      {loadError && <p role="alert" class="error">{loadError}</p>}
      {loaded === '' && <p class="muted">None set.</p>}
      <label>
        {s.title} document
        <textarea name={s.sub} rows={6} value={text ?? ''} placeholder={s.example} onInput={(e) => ((edited.current = true), setText(e.currentTarget.value))} />
      </label>
      <div class="toolbar">
        <button type="button" disabled={!text?.trim()} onClick={() => act(() => client.request('PUT', path, { body: text!, headers: { 'content-type': s.contentType } }), 'Saved.')}>
          Save {s.title.toLowerCase()}
        </button>
        {s.deletable && (
          <button type="button" class="danger" disabled={!loaded} onClick={() => act(() => client.request('DELETE', path), 'Removed.')}>
            Remove {s.title.toLowerCase()}
          </button>
        )}
        {note && <span role="status">{note}</span>}
      </div>
      {error && <p role="alert" class="error">{error}</p>}
    </section>
  );
}

export function BucketSettings({ client, bucket }: { client: Client; bucket: string }) {
  const [error, setError] = useState<string>();
  const remove = async () => {
    if (!confirm(`Delete the bucket ${bucket}? It must be empty.`)) return;
    try {
      await client.deleteBucket(bucket);
      location.hash = href.buckets();
    } catch (e) {
      setError(messageOf(e));
    }
  };
  return (
    <section aria-labelledby="settings-title">
      <nav aria-label="Breadcrumbs" class="crumbs">
        <ol>
          <li>
            <a href={href.buckets()}>Buckets</a>
          </li>
          <li>
            <a href={href.folder(bucket)}>{bucket}</a>
          </li>
          <li aria-current="page">settings</li>
        </ol>
      </nav>
      <h1 id="settings-title">Settings of {bucket}</h1>
      <div class="toolbar">
        <VersioningToggle client={client} bucket={bucket} />
        <button type="button" class="danger" onClick={remove}>
          Delete bucket
        </button>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <div class="panels">
        {SETTINGS.map((s) => (
          <SettingEditor key={s.sub} client={client} bucket={bucket} s={s} />
        ))}
      </div>
    </section>
  );
}
