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

export async function upload(client: Client, bucket: string, key: string, file: File, onProgress: (p: Progress) => void, signal: AbortSignal): Promise<void> {
  const total = file.size;
  const contentType = file.type || 'application/octet-stream';
  if (total <= MULTIPART_THRESHOLD_BYTES) {
    await xhrPut(client, objectPath(bucket, key), file, { 'content-type': contentType }, (loaded) => onProgress({ loaded, total }), signal);
    return;
  }
  const uploadId = await client.createMultipart(bucket, key, contentType);
  const count = Math.ceil(total / PART_SIZE_BYTES);
  const sent = new Array<number>(count).fill(0);
  const etags = new Array<string>(count);
  let nextPart = 0;
  const report = () => onProgress({ loaded: sent.reduce((a, b) => a + b, 0), total });
  const worker = async () => {
    while (nextPart < count) {
      const i = nextPart++;
      const blob = file.slice(i * PART_SIZE_BYTES, Math.min(total, (i + 1) * PART_SIZE_BYTES));
      const path = objectPath(bucket, key) + qs({ partNumber: i + 1, uploadId });
      etags[i] = await xhrPut(client, path, blob, {}, (s) => ((sent[i] = s), report()), signal);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, count) }, worker));
    await client.completeMultipart(bucket, key, uploadId, etags.map((etag, i) => ({ n: i + 1, etag })));
  } catch (e) {
    await client.abortMultipart(bucket, key, uploadId).catch(() => undefined);
    throw e;
  }
}
