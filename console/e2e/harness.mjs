// Process and HTTP helpers of the console's end-to-end test (console.e2e.mjs).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `granary serve` on a free port with a fresh data directory in a new temporary
 * directory (which also holds server.log); `onStart` gets the process and the directory at
 * once, so a failure to listen still leaves both to clean up. Resolves with the endpoint.
 */
export async function startGateway(bin, rootKey, rootSecret, onStart) {
  if (!fs.existsSync(bin)) throw new Error(`no granary binary at ${bin} (cargo build, or set GRANARY_BIN)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'granary-console-e2e-'));
  const logFile = path.join(work, 'server.log');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const out = fs.openSync(logFile, 'w');
    const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'data')], {
      env: { ...process.env, GRANARY_ROOT_ACCESS_KEY: rootKey, GRANARY_ROOT_SECRET_KEY: rootSecret },
      stdio: ['ignore', out, out],
    });
    onStart(proc, work);
    for (let i = 0; i < 300; i++) {
      if (/granary listening on http:\/\//.test(fs.readFileSync(logFile, 'utf8'))) return `http://127.0.0.1:${port}`;
      if (proc.exitCode !== null) break;
      await sleep(100);
    }
    // Another process may have taken the port in between: try another one.
    if (!/address already in use/i.test(fs.readFileSync(logFile, 'utf8'))) break;
  }
  throw new Error('granary did not start (see the server log below)');
}

/**
 * E2E_SERVE_DIST=1: serves `distDir` at /_granary/console/ from this process and proxies
 * everything else to the gateway with the Host header as sent (the browser's signatures cover
 * it), for trying a fresh build without relinking the gateway. Resolves with its origin.
 */
export async function serveDist(endpoint, distDir) {
  const port = await freePort();
  const target = new URL(endpoint);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/_granary/console/')) {
      let rel = url.pathname.slice('/_granary/console/'.length);
      if (!path.extname(rel)) rel = 'index.html';
      const file = path.join(distDir, rel);
      if (!file.startsWith(distDir) || !fs.existsSync(file)) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
      return res.end(fs.readFileSync(file));
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  server.unref();
  return `http://127.0.0.1:${port}`;
}

/** Polls `f` until it returns a truthy value (or `timeoutMs` passes: then throws `what`). */
export async function eventually(what, f, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`${what} (not within ${timeoutMs / 1000}s)${last ? `: ${last.message}` : ''}`);
}

/** Runs `f` on every item, at most `limit` at a time. */
export async function parallel(items, limit, f) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await f(items[next++]);
    }),
  );
}
