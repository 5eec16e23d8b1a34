// Uploads through XHR (fetch has no upload progress): one PUT for small files, multipart for
// files over MULTIPART_THRESHOLD_BYTES in parts of PART_SIZE_BYTES, two parts in flight.
import { Client, objectPath, qs, errorOf } from './s3';

export const MULTIPART_THRESHOLD_BYTES = 8 * 1024 * 1024;
export const PART_SIZE_BYTES = 8 * 1024 * 1024;
const PARALLEL_PARTS = 2;

export interface Progress {
  loaded: number;
  total: number;
}

/** Sends `body` with signed headers; reports bytes sent; resolves with the ETag. */
async function xhrPut(client: Client, path: string, body: Blob, headers: Record<string, string>, onProgress: (sent: number) => void, signal: AbortSignal): Promise<string> {
  const signed = await client.signedHeaders('PUT', path, headers);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', location.origin + path);
    signed.forEach((v, k) => {
      if (k !== 'host') xhr.setRequestHeader(k, v);
    });
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(body.size);
        resolve(xhr.getResponseHeader('ETag') ?? '');
      } else {
        reject(await errorOf(new Response(xhr.responseText, { status: xhr.status })));
      }
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort());
    xhr.send(body);
  });
}

/** A multipart upload under way, kept in sessionStorage so a reloaded page can resume it. */
export interface PendingUpload {
  bucket: string;
  key: string;
  uploadId: string;
  name: string;
  size: number;
  lastModified: number;
}

const PENDING_KEY = 'granary.console.uploads';

export function pendingUploads(): PendingUpload[] {
  try {
    return JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? '[]') as PendingUpload[];
  } catch {
    return [];
  }
}

function setPending(f: (l: PendingUpload[]) => PendingUpload[]) {
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(f(pendingUploads())));
}

const samePlace = (a: PendingUpload, bucket: string, key: string) => a.bucket === bucket && a.key === key;

export async function upload(client: Client, bucket: string, key: string, file: File, onProgress: (p: Progress) => void, signal: AbortSignal): Promise<{ resumedBytes: number }> {
  const total = file.size;
  const contentType = file.type || 'application/octet-stream';
  if (total <= MULTIPART_THRESHOLD_BYTES) {
    onProgress({ loaded: 0, total });
    await xhrPut(client, objectPath(bucket, key), file, { 'content-type': contentType }, (loaded) => onProgress({ loaded, total }), signal);
    return { resumedBytes: 0 };
  }
  const count = Math.ceil(total / PART_SIZE_BYTES);
  const partSize = (i: number) => Math.min(total, (i + 1) * PART_SIZE_BYTES) - i * PART_SIZE_BYTES;
  const sent = new Array<number>(count).fill(0);
  const etags = new Array<string>(count);

  // The same file (name, size, date) to the same key, begun before a reload: keep its parts.
  let uploadId: string | undefined;
  const earlier = pendingUploads().find((p) => samePlace(p, bucket, key) && p.size === total && p.lastModified === file.lastModified && p.name === file.name);
  if (earlier) {
    try {
      for (const part of await client.listParts(bucket, key, earlier.uploadId)) {
        const i = part.n - 1;
        if (i < count && part.size === partSize(i)) {
          etags[i] = part.etag;
          sent[i] = part.size;
        }
      }
      uploadId = earlier.uploadId;
    } catch {
      // The upload is gone (completed, aborted or expired): start over.
      setPending((l) => l.filter((p) => p.uploadId !== earlier.uploadId));
    }
  }
  const resumedBytes = sent.reduce((a, b) => a + b, 0);
  if (!uploadId) {
    uploadId = await client.createMultipart(bucket, key, contentType);
    const record = { bucket, key, uploadId, name: file.name, size: total, lastModified: file.lastModified };
    setPending((l) => [...l.filter((p) => !samePlace(p, bucket, key)), record]);
  }
  const id = uploadId;
  const todo = Array.from({ length: count }, (_, i) => i).filter((i) => !etags[i]);
  const report = () => onProgress({ loaded: sent.reduce((a, b) => a + b, 0), total });
  report();
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const i = todo[next++];
      const blob = file.slice(i * PART_SIZE_BYTES, i * PART_SIZE_BYTES + partSize(i));
      const path = objectPath(bucket, key) + qs({ partNumber: i + 1, uploadId: id });
      etags[i] = await xhrPut(client, path, blob, {}, (s) => ((sent[i] = s), report()), signal);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, todo.length) }, worker));
    await client.completeMultipart(bucket, key, id, etags.map((etag, i) => ({ n: i + 1, etag })));
  } catch (e) {
    await client.abortMultipart(bucket, key, id).catch(() => undefined);
    throw e;
  } finally {
    setPending((l) => l.filter((p) => p.uploadId !== id));
  }
  return { resumedBytes };
}
