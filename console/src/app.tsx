// The shell: login (credentials kept in sessionStorage only, checked with ListBuckets),
// navigation, and the hash router.
import { useState } from 'preact/hooks';
import { Client, Creds } from './s3';
import { href, messageOf, useRoute } from './util';
import { Buckets } from './pages/buckets';
import { Folder } from './pages/folder';
import { ObjectDetails } from './pages/object';
import { SearchPage } from './pages/search';
import { Users, UserDetails } from './pages/users';
import { Status } from './pages/status';
import { BucketSettings } from './pages/settings';

const STORAGE_KEY = 'granary.console.credentials';

function storedClient(): Client | undefined {
  try {
    const c = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Creds | null;
    return c?.accessKeyId && c.secretAccessKey ? new Client(c) : undefined;
  } catch {
    return undefined;
  }
}

export function App() {
  const [client, setClient] = useState<Client | undefined>(storedClient);
  const logout = () => {
    // The keys, and the ids of interrupted uploads (which only these keys could resume).
    sessionStorage.clear();
    setClient(undefined);
    location.hash = '#/';
  };
  if (!client)
    return (
      <Login
        onLogin={(c) => {
          sessionStorage.setItem(STORAGE_KEY, JSON.stringify(c.creds));
          setClient(c);
        }}
      />
    );
  return <Shell client={client} onLogout={logout} />;
}

function Login({ onLogin }: { onLogin: (c: Client) => void }) {
  const [ak, setAk] = useState('');
  const [sk, setSk] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const c = new Client({ accessKeyId: ak.trim(), secretAccessKey: sk });
    try {
      await c.listBuckets();
      onLogin(c);
    } catch (err) {
      setError(`Sign-in refused: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Granary console</h1>
        <label>
          Access key
          <input name="accessKey" autoComplete="username" required value={ak} onInput={(e) => setAk(e.currentTarget.value)} />
        </label>
        <label>
          Secret key
          <input name="secretKey" type="password" autoComplete="current-password" required value={sk} onInput={(e) => setSk(e.currentTarget.value)} />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">Requests are signed in this browser; the keys stay in this tab's session storage until you sign out.</p>
      </form>
    </main>
  );
}

function Shell({ client, onLogout }: { client: Client; onLogout: () => void }) {
  const route = useRoute();
  let page;
  switch (route.page) {
    case 'b':
      page = <Folder client={client} bucket={route.parts[0]} prefix={route.parts.slice(1).join('/')} />;
      break;
    case 'o':
      page = <ObjectDetails client={client} bucket={route.parts[0]} objectKey={route.parts.slice(1).join('/')} />;
      break;
    case 'search':
      page = <SearchPage client={client} bucket={route.parts[0]} q={route.query.get('q') ?? ''} />;
      break;
    case 'admin':
      page = route.parts[0] ? <UserDetails client={client} name={route.parts[0]} /> : <Users client={client} />;
      break;
    case 'status':
      page = <Status client={client} />;
      break;
    case 'settings':
      page = <BucketSettings client={client} bucket={route.parts[0]} />;
      break;
    default:
      page = <Buckets client={client} />;
  }
  return (
    <>
      <header class="top">
        <a class="brand" href={href.buckets()}>
          Granary
        </a>
        <nav aria-label="Main">
          <a href={href.buckets()} aria-current={route.page === '' || route.page === 'b' ? 'page' : undefined}>
            Buckets
          </a>
          <a href={href.users()} aria-current={route.page === 'admin' ? 'page' : undefined}>
            Users
          </a>
          <a href={href.status()} aria-current={route.page === 'status' ? 'page' : undefined}>
            Status
          </a>
        </nav>
        <span class="who" title="Signed in as">
          {client.creds.accessKeyId}
        </span>
        <button type="button" onClick={onLogout}>
          Sign out
        </button>
      </header>
      <main class="content">{page}</main>
    </>
  );
}
