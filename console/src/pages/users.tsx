// Admin pages over /_granary/admin/ (the admin user only; others get 403): users (create,
// disable/enable, delete), a user's access keys (create, disable/enable, delete) and policy.
import { useState } from 'preact/hooks';
import { ApiError, Client, enc } from '../s3';
import { formatDate, href, messageOf, useLoad } from '../util';

interface KeyInfo {
  access_key: string;
  user?: string;
  disabled: boolean;
  created_ms?: number;
}
interface UserInfo {
  name: string;
  display_name?: string;
  email?: string | null;
  disabled: boolean;
  has_policy?: boolean;
  access_keys?: KeyInfo[];
}
interface NewKey {
  user?: string;
  access_key: string;
  secret_key: string;
}

const ADMIN = '/_granary/admin';

function AdminError({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

const ADMIN_ONLY = 'Only the admin user may manage users and keys.';

/** A load of the admin API: a 403 becomes the sentence saying whose pages these are. */
async function adminGet(client: Client, path: string): Promise<unknown> {
  try {
    return await client.json<unknown>('GET', path);
  } catch (e) {
    throw e instanceof ApiError && e.status === 403 ? new Error(ADMIN_ONLY) : e;
  }
}

const listOf = <T,>(v: unknown, field: string): T[] => (Array.isArray(v) ? (v as T[]) : (((v as Record<string, unknown>)?.[field] as T[]) ?? []));

/** Runs an admin action, then `after`; a 403 says who may use these pages. */
function useAction(after: () => void): [(f: () => Promise<unknown>) => Promise<void>, string | undefined] {
  const [error, setError] = useState<string>();
  const run = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await f();
      after();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 403 ? ADMIN_ONLY : messageOf(e));
    }
  };
  return [run, error];
}

function NewSecret({ k }: { k?: NewKey }) {
  if (!k) return null;
  return (
    <div role="status" class="secret">
      New access key <code>{k.access_key}</code>, secret <code>{k.secret_key}</code> — shown once: copy it now.
    </div>
  );
}

export function Users({ client }: { client: Client }) {
  const [data, loadError, reload] = useLoad(() => adminGet(client, `${ADMIN}/users`), [client]);
  const users = listOf<UserInfo>(data, 'users');
  const [run, error] = useAction(reload);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<NewKey>();
  const create = (e: Event) => {
    e.preventDefault();
    run(async () => {
      setCreated(await client.json<NewKey>('POST', `${ADMIN}/users`, { name: name.trim() }));
      setName('');
    });
  };
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <form class="inline" onSubmit={create}>
        <label>
          New user name
          <input name="userName" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit">Create user</button>
      </form>
      <NewSecret k={created} />
      <AdminError error={loadError} />
      <AdminError error={error} />
      <table class="list users">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Keys</th>
            <th scope="col">Policy</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.name} data-user={u.name}>
              <td>
                <a href={href.user(u.name)}>{u.name}</a>
                {u.display_name && u.display_name !== u.name ? ` (${u.display_name})` : ''}
              </td>
              <td>{u.disabled ? <span class="badge warn">disabled</span> : 'active'}</td>
              <td>{u.access_keys?.length ?? ''}</td>
              <td>{u.has_policy ? 'attached' : ''}</td>
              <td class="actions">
                <button type="button" onClick={() => run(() => client.request('POST', `${ADMIN}/users/${enc(u.name)}/${u.disabled ? 'enable' : 'disable'}`))} aria-label={`${u.disabled ? 'Enable' : 'Disable'} user ${u.name}`}>
                  {u.disabled ? 'Enable' : 'Disable'}
                </button>
                <button
                  type="button"
                  class="danger"
                  onClick={() => confirm(`Delete user ${u.name}?`) && run(() => client.request('DELETE', `${ADMIN}/users/${enc(u.name)}`))}
                  aria-label={`Delete user ${u.name}`}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function UserDetails({ client, name }: { client: Client; name: string }) {
  const base = `${ADMIN}/users/${enc(name)}`;
  const [data, loadError, reload] = useLoad(() => adminGet(client, `${base}/keys`), [client, name]);
  const keys = listOf<KeyInfo>(data, 'keys');
  const [run, error] = useAction(reload);
  const [created, setCreated] = useState<NewKey>();
  return (
    <section aria-labelledby="user-title">
      <nav aria-label="Breadcrumbs" class="crumbs">
        <ol>
          <li>
            <a href={href.users()}>Users</a>
          </li>
          <li aria-current="page">{name}</li>
        </ol>
      </nav>
      <h1 id="user-title">{name}</h1>
      <h2>Access keys</h2>
      <button type="button" onClick={() => run(async () => setCreated(await client.json<NewKey>('POST', `${base}/keys`, {})))}>
        Create access key
      </button>
      <NewSecret k={created} />
      <AdminError error={loadError} />
      <AdminError error={error} />
      <table class="list keys">
        <thead>
          <tr>
            <th scope="col">Access key</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.access_key}>
              <td>
                <code>{k.access_key}</code>
              </td>
              <td>{k.disabled ? <span class="badge warn">disabled</span> : 'active'}</td>
              <td>{k.created_ms ? formatDate(k.created_ms) : ''}</td>
              <td class="actions">
                <button type="button" onClick={() => run(() => client.request('POST', `${ADMIN}/keys/${enc(k.access_key)}/${k.disabled ? 'enable' : 'disable'}`))} aria-label={`${k.disabled ? 'Enable' : 'Disable'} key ${k.access_key}`}>
                  {k.disabled ? 'Enable' : 'Disable'}
                </button>
                <button
                  type="button"
                  class="danger"
                  onClick={() => confirm(`Delete key ${k.access_key}?`) && run(() => client.request('DELETE', `${ADMIN}/keys/${enc(k.access_key)}`))}
                  aria-label={`Delete key ${k.access_key}`}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Policy client={client} base={base} />
    </section>
  );
}

function Policy({ client, base }: { client: Client; base: string }) {
  const [doc, setDoc] = useState<string>();
  const [loaded, loadError, reload] = useLoad(async () => {
    try {
      const r = await client.json<{ document?: string } | Record<string, unknown>>('GET', `${base}/policy`);
      const d = typeof r.document === 'string' ? r.document : JSON.stringify(r, null, 2);
      setDoc(d);
      return d;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return setDoc(''), '';
      throw e;
    }
  }, [client, base]);
  const [run, error] = useAction(reload);
  return (
    <section aria-labelledby="policy-title">
      <h2 id="policy-title">Policy</h2>
      <AdminError error={loadError} />
      <AdminError error={error} />
      <label>
        Policy document (JSON)
        <textarea name="policy" rows={10} value={doc ?? ''} onInput={(e) => setDoc(e.currentTarget.value)} />
      </label>
      <div class="toolbar">
        <button type="button" disabled={!doc} onClick={() => run(() => client.request('PUT', `${base}/policy`, { body: doc!, headers: { 'content-type': 'application/json' } }))}>
          Save policy
        </button>
        <button type="button" class="danger" disabled={!loaded} onClick={() => run(() => client.request('DELETE', `${base}/policy`))}>
          Remove policy
        </button>
      </div>
    </section>
  );
}
