// The S3 and Granary API client: every request is signed in the browser with SigV4 (service
// s3, region us-east-1) against the page's own origin (path-style: /bucket/key).
import { AwsClient } from 'aws4fetch';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

/** An S3 (or Granary API) error: the code and message from the XML or JSON body. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

// RFC 3986: encodeURIComponent leaves !'()* alone; SigV4 (and aws4fetch's canonical path)
// encodes them, so the URL we send must match.
export const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
export const encKey = (key: string) => key.split('/').map(enc).join('/');

/** A query string built by hand: URLSearchParams writes spaces as '+', which S3 reads literally. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => (v === '' ? enc(k) : `${enc(k)}=${enc(String(v))}`));
  return parts.length ? '?' + parts.join('&') : '';
}

export const objectPath = (bucket: string, key = '') => `/${enc(bucket)}/${encKey(key)}`;

export class Client {
  private aws: AwsClient;
  constructor(public creds: Creds) {
    this.aws = new AwsClient({ ...creds, service: 's3', region: 'us-east-1', retries: 0 });
  }

  private url(path: string) {
    return location.origin + path;
  }

  /** A signed request; throws ApiError on a non-2xx answer. */
  async request(method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit | null } = {}): Promise<Response> {
    const resp = await this.aws.fetch(this.url(path), { method, headers: init.headers, body: init.body ?? null });
    if (!resp.ok) throw await errorOf(resp);
    return resp;
  }

  async xml(method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit | null } = {}): Promise<Document> {
    const resp = await this.request(method, path, init);
    const text = await resp.text();
    return new DOMParser().parseFromString(text || '<Empty/>', 'application/xml');
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const resp = await this.request(method, path, {
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await resp.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Signed headers for a request sent some other way (XHR, for upload progress). */
  async signedHeaders(method: string, path: string, headers: Record<string, string> = {}): Promise<Headers> {
    const req = await this.aws.sign(this.url(path), { method, headers });
    return req.headers;
  }

  /** A presigned GET URL (valid for an hour). */
  async presign(path: string, expiresSeconds = 3600): Promise<string> {
    const url = new URL(this.url(path));
    url.searchParams.set('X-Amz-Expires', String(expiresSeconds));
    const req = await this.aws.sign(url.toString(), { method: 'GET', aws: { signQuery: true } });
    return req.url;
  }

  // ---- S3 operations ----

  async listBuckets(): Promise<Bucket[]> {
    const doc = await this.xml('GET', '/');
    return all(doc, 'Bucket').map((b) => ({ name: text(b, 'Name'), created: text(b, 'CreationDate') }));
  }

  createBucket(bucket: string) {
    return this.request('PUT', objectPath(bucket).replace(/\/$/, ''));
  }

  deleteBucket(bucket: string) {
    return this.request('DELETE', objectPath(bucket).replace(/\/$/, ''));
  }

  /** One page of a delimiter listing (ListObjectsV2). */
  async listFolder(bucket: string, prefix: string, token?: string, maxKeys = 200): Promise<ListPage> {
    const q = qs({ 'list-type': 2, delimiter: '/', prefix, 'max-keys': maxKeys, 'continuation-token': token });
    const doc = await this.xml('GET', `/${enc(bucket)}${q}`);
    return {
      folders: all(doc, 'CommonPrefixes').map((p) => text(p, 'Prefix')),
      objects: all(doc, 'Contents').map((c) => ({
        key: text(c, 'Key'),
        size: Number(text(c, 'Size')),
        lastModified: text(c, 'LastModified'),
        etag: text(c, 'ETag'),
      })),
      next: text(doc.documentElement, 'NextContinuationToken') || undefined,
    };
  }

  putObject(bucket: string, key: string, body: BodyInit, contentType?: string) {
    return this.request('PUT', objectPath(bucket, key), { body, headers: contentType ? { 'content-type': contentType } : {} });
  }

  deleteObject(bucket: string, key: string, versionId?: string) {
    return this.request('DELETE', objectPath(bucket, key) + qs({ versionId }));
  }

  /** HEAD with the stored checksums (x-amz-checksum-mode). */
  async head(bucket: string, key: string, versionId?: string): Promise<Headers> {
    return (await this.request('HEAD', objectPath(bucket, key) + qs({ versionId }), { headers: { 'x-amz-checksum-mode': 'ENABLED' } })).headers;
  }

  private lockEnabled = new Map<string, Promise<boolean>>();

  /** Whether the bucket has object lock (asked once per bucket and session). */
  objectLockEnabled(bucket: string): Promise<boolean> {
    let known = this.lockEnabled.get(bucket);
    if (!known) {
      known = this.xml('GET', `/${enc(bucket)}?object-lock`).then(
        (doc) => text(doc.documentElement, 'ObjectLockEnabled') === 'Enabled',
        () => false,
      );
      this.lockEnabled.set(bucket, known);
    }
    return known;
  }

  /** Retention and legal hold (only asked of a bucket with object lock). */
  async protection(bucket: string, key: string): Promise<{ lock: boolean; mode?: string; until?: string; legalHold?: string }> {
    if (!(await this.objectLockEnabled(bucket))) return { lock: false };
    const absent = (e: unknown) => {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) return undefined;
      throw e;
    };
    const [ret, hold] = await Promise.all([
      this.xml('GET', objectPath(bucket, key) + qs({ retention: '' })).catch(absent),
      this.xml('GET', objectPath(bucket, key) + qs({ 'legal-hold': '' })).catch(absent),
    ]);
    return {
      lock: true,
      mode: ret ? text(ret.documentElement, 'Mode') : undefined,
      until: ret ? text(ret.documentElement, 'RetainUntilDate') : undefined,
      legalHold: hold ? text(hold.documentElement, 'Status') : undefined,
    };
  }

  setLegalHold(bucket: string, key: string, on: boolean) {
    const body = `<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${on ? 'ON' : 'OFF'}</Status></LegalHold>`;
    return this.request('PUT', objectPath(bucket, key) + qs({ 'legal-hold': '' }), { body, headers: { 'content-type': 'application/xml' } });
  }

  async getTags(bucket: string, key: string): Promise<Tag[]> {
    const doc = await this.xml('GET', objectPath(bucket, key) + qs({ tagging: '' }));
    return all(doc, 'Tag').map((t) => ({ key: text(t, 'Key'), value: text(t, 'Value') }));
  }

  putTags(bucket: string, key: string, tags: Tag[]) {
    const body =
      '<Tagging><TagSet>' + tags.map((t) => `<Tag><Key>${esc(t.key)}</Key><Value>${esc(t.value)}</Value></Tag>`).join('') + '</TagSet></Tagging>';
    return this.request('PUT', objectPath(bucket, key) + qs({ tagging: '' }), { body, headers: { 'content-type': 'application/xml' } });
  }

  /** The versions and delete markers of exactly this key (newest first). */
  async versions(bucket: string, key: string): Promise<Version[]> {
    const out: Version[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const q = qs({ versions: '', prefix: key, 'key-marker': keyMarker, 'version-id-marker': versionMarker, 'max-keys': 1000 });
      const doc = await this.xml('GET', `/${enc(bucket)}${q}`);
      for (const el of Array.from(doc.documentElement.children)) {
        if (el.localName !== 'Version' && el.localName !== 'DeleteMarker') continue;
        if (text(el, 'Key') !== key) continue;
        out.push({
          versionId: text(el, 'VersionId'),
          isLatest: text(el, 'IsLatest') === 'true',
          lastModified: text(el, 'LastModified'),
          size: Number(text(el, 'Size') || 0),
          etag: text(el, 'ETag'),
          deleteMarker: el.localName === 'DeleteMarker',
        });
      }
      // Keys sort after their prefix: once a later key shows up, this key's versions are all listed.
      if (text(doc.documentElement, 'IsTruncated') !== 'true') break;
      keyMarker = text(doc.documentElement, 'NextKeyMarker');
      versionMarker = text(doc.documentElement, 'NextVersionIdMarker');
      if (keyMarker !== key) break;
    }
    return out;
  }

  /** CopyObject within the bucket (metadata and tags go with it). */
  copyObject(bucket: string, from: string, to: string) {
    return this.request('PUT', objectPath(bucket, to), { headers: { 'x-amz-copy-source': objectPath(bucket, from) } });
  }

  /** Every key under `prefix` (no delimiter), a page of up to 1000 at a time. */
  async *keysUnder(bucket: string, prefix: string): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      const doc = await this.xml('GET', `/${enc(bucket)}${qs({ 'list-type': 2, prefix, 'max-keys': 1000, 'continuation-token': token })}`);
      yield all(doc, 'Contents').map((c) => text(c, 'Key'));
      token = text(doc.documentElement, 'NextContinuationToken') || undefined;
    } while (token);
  }

  /** Makes an older version the current one again: CopyObject from that version. */
  restoreVersion(bucket: string, key: string, versionId: string) {
    return this.request('PUT', objectPath(bucket, key), {
      headers: { 'x-amz-copy-source': `${objectPath(bucket, key)}?versionId=${enc(versionId)}` },
    });
  }

  async getVersioning(bucket: string): Promise<string> {
    const doc = await this.xml('GET', `/${enc(bucket)}?versioning`);
    return text(doc.documentElement, 'Status') || 'Off';
  }

  setVersioning(bucket: string, status: 'Enabled' | 'Suspended') {
    const body = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>`;
    return this.request('PUT', `/${enc(bucket)}?versioning`, { body, headers: { 'content-type': 'application/xml' } });
  }

  // ---- multipart ----

  async createMultipart(bucket: string, key: string, contentType: string): Promise<string> {
    const doc = await this.xml('POST', objectPath(bucket, key) + '?uploads', { headers: { 'content-type': contentType } });
    return text(doc.documentElement, 'UploadId');
  }

  completeMultipart(bucket: string, key: string, uploadId: string, parts: { n: number; etag: string }[]) {
    const body =
      '<CompleteMultipartUpload>' +
      parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${esc(p.etag)}</ETag></Part>`).join('') +
      '</CompleteMultipartUpload>';
    return this.xml('POST', objectPath(bucket, key) + qs({ uploadId }), { body, headers: { 'content-type': 'application/xml' } });
  }

  /** The parts already uploaded (all pages of ListParts). */
  async listParts(bucket: string, key: string, uploadId: string): Promise<{ n: number; size: number; etag: string }[]> {
    const out: { n: number; size: number; etag: string }[] = [];
    let marker: string | undefined;
    for (;;) {
      const doc = await this.xml('GET', objectPath(bucket, key) + qs({ uploadId, 'part-number-marker': marker }));
      for (const p of all(doc, 'Part')) out.push({ n: Number(text(p, 'PartNumber')), size: Number(text(p, 'Size')), etag: text(p, 'ETag') });
      if (text(doc.documentElement, 'IsTruncated') !== 'true') return out;
      marker = text(doc.documentElement, 'NextPartNumberMarker');
    }
  }

  abortMultipart(bucket: string, key: string, uploadId: string) {
    return this.request('DELETE', objectPath(bucket, key) + qs({ uploadId }));
  }
}

export interface Bucket {
  name: string;
  created: string;
}
export interface ObjectEntry {
  key: string;
  size: number;
  lastModified: string;
  etag: string;
}
export interface ListPage {
  folders: string[];
  objects: ObjectEntry[];
  next?: string;
}
export interface Tag {
  key: string;
  value: string;
}
export interface Version {
  versionId: string;
  isLatest: boolean;
  lastModified: string;
  size: number;
  etag: string;
  deleteMarker: boolean;
}

/** The error an answer carries: S3's XML <Error>, or Granary's JSON, or just the status. */
export async function errorOf(resp: Response): Promise<ApiError> {
  const body = await resp.text().catch(() => '');
  if (body.startsWith('<')) {
    const doc = new DOMParser().parseFromString(body, 'application/xml');
    const code = text(doc.documentElement, 'Code');
    if (code) return new ApiError(resp.status, code, text(doc.documentElement, 'Message') || code);
  }
  if (body.startsWith('{')) {
    try {
      // The admin API answers {"error": {"code", "message"}}; others {"code", "message"}.
      const j = JSON.parse(body);
      const e = typeof j.error === 'object' && j.error ? j.error : j;
      return new ApiError(resp.status, e.code ?? 'Error', e.message ?? (typeof j.error === 'string' ? j.error : body));
    } catch {
      /* not JSON after all */
    }
  }
  const fallback = resp.status === 403 ? 'AccessDenied' : resp.status === 404 ? 'NotFound' : `HTTP ${resp.status}`;
  return new ApiError(resp.status, fallback, body.slice(0, 200) || fallback);
}

function all(doc: Document | Element, tag: string): Element[] {
  return Array.from(doc.getElementsByTagName(tag));
}

/** The text of the first direct child named `tag`. */
function text(el: Element | null, tag: string): string {
  if (!el) return '';
  for (const c of Array.from(el.children)) if (c.localName === tag) return c.textContent ?? '';
  return '';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
