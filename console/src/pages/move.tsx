// Rename and move: S3 has no rename, so each object is copied to its new key, then deleted
// (a folder: every key under its prefix, with progress). Copies keep metadata and tags.
import { useState } from 'preact/hooks';
import { Client } from '../s3';
import { href, messageOf } from '../util';

export function MoveObject({ client, bucket, objectKey }: { client: Client; bucket: string; objectKey: string }) {
  const [to, setTo] = useState(objectKey);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const dest = to.trim();
    if (!dest || dest === objectKey) return;
    setBusy(true);
    setError(undefined);
    try {
      await client.copyObject(bucket, objectKey, dest);
      await client.deleteObject(bucket, objectKey);
      location.hash = href.object(bucket, dest);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label>
        Rename or move to
        <input name="moveTo" value={to} onInput={(e) => setTo(e.currentTarget.value)} size={40} />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Moving…' : 'Move'}
      </button>
      {error && <p role="alert" class="error">{error}</p>}
    </form>
  );
}

export function MoveFolder({ client, bucket, prefix }: { client: Client; bucket: string; prefix: string }) {
  const [to, setTo] = useState(prefix);
  const [error, setError] = useState<string>();
  const [progress, setProgress] = useState<{ done: number; seen: number; finished: boolean }>();
  const submit = async (e: Event) => {
    e.preventDefault();
    const dest = to.trim().replace(/\/*$/, '/');
    if (dest === '/' || dest === prefix) return;
    if (dest.startsWith(prefix)) return setError('A folder cannot move into itself.');
    setError(undefined);
    let done = 0;
    let seen = 0;
    setProgress({ done, seen, finished: false });
    try {
      // Page by page: the listing never holds more than one page of keys.
      for await (const keys of client.keysUnder(bucket, prefix)) {
        seen += keys.length;
        setProgress({ done, seen, finished: false });
        for (const key of keys) {
          await client.copyObject(bucket, key, dest + key.slice(prefix.length));
          await client.deleteObject(bucket, key);
          setProgress({ done: ++done, seen, finished: false });
        }
      }
      setProgress({ done, seen, finished: true });
      location.hash = href.folder(bucket, dest);
    } catch (err) {
      setError(`${messageOf(err)} (after moving ${done} objects)`);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label>
        Move this folder to
        <input name="moveFolderTo" value={to} onInput={(e) => setTo(e.currentTarget.value)} size={30} />
      </label>
      <button type="submit" disabled={!!progress && !progress.finished && !error}>
        Move folder
      </button>
      {progress && (
        <span class="move-progress">
          <progress max={Math.max(progress.seen, 1)} value={progress.done} aria-label="Objects moved" />{' '}
          <span aria-live="polite">
            {progress.done} of {progress.seen}
            {progress.finished ? ' moved' : '…'}
          </span>
        </span>
      )}
      {error && <p role="alert" class="error">{error}</p>}
    </form>
  );
}
