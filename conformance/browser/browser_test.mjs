// The browser half of conformance/browser.sh: Debian's Chromium, driven by playwright-core,
// runs page.html from two origins against a real granary and reports what the browser saw.
//
//   node browser_test.mjs PLAN_JSON ALLOWED_PORT OTHER_PORT
//
// PLAN_JSON is presign.py's output. The page is served on 127.0.0.1:ALLOWED_PORT (the origin
// the bucket's CORS rules name) and on 127.0.0.1:OTHER_PORT (an origin they do not name).
// Environment: BROWSER_PUT_BODY, BROWSER_FILE_NAME, BROWSER_FILE_BODY, BROWSER_FORM_FILE_NAME,
// BROWSER_FORM_FILE_BODY (what to upload), BROWSER_PID_FILE (where the browser's pid goes, so
// the shell can kill it if this process dies), CHROMIUM (default /usr/bin/chromium),
// BROWSER_DEADLINE_SECONDS (default 50). Exits 0 when every check passed, 1 on a failed
// check, 2 when the deadline passed; every failure names the step.

import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [planFile, allowedPort, otherPort] = process.argv.slice(2);
if (!planFile || !allowedPort || !otherPort) {
  console.error('usage: node browser_test.mjs PLAN_JSON ALLOWED_PORT OTHER_PORT (run conformance/browser.sh)');
  process.exit(64);
}
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set (run conformance/browser.sh)`);
  return v;
};
const putBody = env('BROWSER_PUT_BODY');
const fileName = env('BROWSER_FILE_NAME');
const fileBody = env('BROWSER_FILE_BODY');
const formFileName = env('BROWSER_FORM_FILE_NAME');
const formFileBody = env('BROWSER_FORM_FILE_BODY');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const deadlineSeconds = Number(process.env.BROWSER_DEADLINE_SECONDS || 50);
const STEP_TIMEOUT_MS = 15000;

const allowedOrigin = `http://127.0.0.1:${allowedPort}`;
const otherOrigin = `http://127.0.0.1:${otherPort}`;
const md5 = (s) => `"${crypto.createHash('md5').update(s).digest('hex')}"`;

let step = 'starting';
const log = (msg) => console.log(`[browser_test +${process.uptime().toFixed(1)}s] ${msg}`);
const fail = (msg) => {
  console.error(`FAIL: ${step}: ${msg}`);
  process.exit(1); // playwright-core's exit handler kills the browser it launched
};
const check = (cond, msg) => { if (!cond) fail(msg); };

// A hang anywhere (browser start, a page that never answers) ends the run with its step.
setTimeout(() => {
  console.error(`FAIL: ${step}: the browser test did not finish within ${deadlineSeconds}s`);
  process.exit(2);
}, deadlineSeconds * 1000).unref();

// The web app: page.html at /, and the landing page of the form's success_action_redirect.
const pageHtml = fs.readFileSync(path.join(here, 'page.html'));
function serve(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(pageHtml);
    } else if (url.pathname === '/uploaded.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>uploaded</title><p>uploaded</p>');
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end(); // keeps a 404 for it off the page's console
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`page server on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(Number(port), '127.0.0.1', () => resolve(server));
  });
}

// This process's children: the browser (Playwright's Browser does not tell its pid).
// playwright-core starts it as the leader of a process group of its own, so the shell can
// kill the group should this process die without closing it.
function childPids() {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
    } catch {
      return false; // gone meanwhile
    }
  });
}

async function run() {
  step = 'serving the page';
  const servers = [await serve(allowedPort), await serve(otherPort)];

  step = `launching ${executablePath}`;
  // launch() gives the browser a fresh profile in os.tmpdir() (the shell points TMPDIR into
  // its scratch directory) and removes it on close. The flags keep Chromium off the network
  // it would otherwise call at start (this machine's network is closed).
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    chromiumSandbox: false,
    timeout: STEP_TIMEOUT_MS,
    args: [
      '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-proxy-server',
    ],
  });
  if (process.env.BROWSER_PID_FILE) fs.writeFileSync(process.env.BROWSER_PID_FILE, childPids().join('\n'));
  log(`browser ${browser.version()} up`);
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const consoleOf = (page) => {
    const lines = [];
    page.on('console', (m) => lines.push(m.text()));
    return lines;
  };

  step = `opening ${allowedOrigin}/`;
  const app = await context.newPage();
  const appConsole = consoleOf(app);
  await app.goto(`${allowedOrigin}/`);

  step = '(a) PUT with the presigned PUT URL from the allowed origin';
  const put = await app.evaluate(([url, body]) => putObject(url, body), [plan.put_url, putBody]);
  check(put.ok, `fetch failed: ${JSON.stringify(put.error)}; page console: ${JSON.stringify(appConsole)}`);
  check(put.status === 200, `status ${put.status}, body: ${put.body}`);
  check(put.etag === md5(putBody), `the ETag header read by the page is ${JSON.stringify(put.etag)}, expected ${md5(putBody)} (is ETag in ExposeHeaders?)`);
  log(`(a) PUT ${plan.put_key}: 200, ETag ${put.etag} readable by the page`);

  step = '(b) POST form data with a File from the allowed origin';
  const post = await app.evaluate(([p, n, b]) => postObject(p, n, b), [plan.post, fileName, fileBody]);
  check(post.ok, `fetch failed: ${JSON.stringify(post.error)}; page console: ${JSON.stringify(appConsole)}`);
  check(post.status === 201, `status ${post.status} (success_action_status 201 asked), body: ${post.body}`);
  check(post.key === `uploads/${fileName}`, `PostResponse Key is ${JSON.stringify(post.key)}, expected ${JSON.stringify(`uploads/${fileName}`)} (\${filename} substitution); body: ${post.body}`);
  check(post.xmlEtag === md5(fileBody), `PostResponse ETag is ${JSON.stringify(post.xmlEtag)}, expected ${md5(fileBody)}`);
  check(post.etag === md5(fileBody), `the ETag header read by the page is ${JSON.stringify(post.etag)}, expected ${md5(fileBody)}`);
  log(`(b) POST: 201, key ${JSON.stringify(post.key)}, ETag ${post.etag}`);

  step = '(c) GET with the presigned GET URL from the allowed origin';
  const get = await app.evaluate((url) => getObject(url), plan.get_url);
  check(get.ok, `fetch failed: ${JSON.stringify(get.error)}; page console: ${JSON.stringify(appConsole)}`);
  check(get.status === 200, `status ${get.status}, body: ${get.text}`);
  check(get.text === putBody, `the page read ${JSON.stringify(get.text)}, expected ${JSON.stringify(putBody)}`);
  check(get.etag === md5(putBody), `the ETag header read by the page is ${JSON.stringify(get.etag)}, expected ${md5(putBody)}`);
  log('(c) GET: 200, the text the page PUT');

  step = '(b2) a plain HTML form POST (success_action_redirect) from the allowed origin';
  await app.evaluate((p) => buildUploadForm(p), plan.form_post);
  await app.setInputFiles('#upload-file', { name: formFileName, mimeType: 'text/plain', buffer: Buffer.from(formFileBody) });
  try {
    await Promise.all([
      app.waitForURL((u) => u.origin === allowedOrigin && u.pathname === '/uploaded.html'),
      app.click('#upload-submit'),
    ]);
  } catch (e) {
    const body = (await app.content().catch(() => '')).slice(0, 1000);
    fail(`the browser did not land on ${allowedOrigin}/uploaded.html: ${e.message.split('\n')[0]}; it is at ${app.url()} showing: ${body}`);
  }
  const landed = new URL(app.url());
  const formKey = `uploads/form/${formFileName}`;
  check(landed.searchParams.get('key') === formKey, `redirected with key ${JSON.stringify(landed.searchParams.get('key'))}, expected ${JSON.stringify(formKey)}: ${app.url()}`);
  check(landed.searchParams.get('bucket') === plan.bucket, `redirected with bucket ${JSON.stringify(landed.searchParams.get('bucket'))}: ${app.url()}`);
  check(landed.searchParams.get('etag') === md5(formFileBody), `redirected with etag ${JSON.stringify(landed.searchParams.get('etag'))}, expected ${md5(formFileBody)}`);
  log(`(b2) form POST: 303 to ${landed.pathname} with key ${JSON.stringify(formKey)}`);

  step = `(d) the same presigned GET and PUT from ${otherOrigin}, which the rules do not name`;
  const other = await context.newPage();
  const otherConsole = consoleOf(other);
  await other.goto(`${otherOrigin}/`);
  const blockedGet = await other.evaluate((url) => getObject(url), plan.get_url);
  check(!blockedGet.ok, `the browser let the page read the object: ${JSON.stringify(blockedGet)}`);
  check(blockedGet.error.name === 'TypeError', `expected the browser's TypeError (CORS), got ${JSON.stringify(blockedGet.error)}`);
  const blockedPut = await other.evaluate(([url, body]) => putObject(url, body), [plan.put_url, `overwritten from ${otherOrigin}`]);
  check(!blockedPut.ok, `the browser let the page PUT: ${JSON.stringify(blockedPut)}`);
  check(blockedPut.error.name === 'TypeError', `expected the browser's TypeError (CORS), got ${JSON.stringify(blockedPut.error)}`);
  // Chromium says why on the console; the messages may arrive just after the promise.
  const blocked = () => otherConsole.filter((l) => l.includes('blocked by CORS policy'));
  for (let i = 0; i < 40 && blocked().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  check(blocked().length >= 2, `expected two 'blocked by CORS policy' console messages, got: ${JSON.stringify(otherConsole)}`);
  log(`(d) refused by the browser: GET ${blockedGet.error.name}, PUT ${blockedPut.error.name}`);
  for (const l of blocked()) log(`    console: ${l.replace(/'http:[^']*'/, "'<presigned URL>'")}`);

  step = 'closing the browser';
  await browser.close();
  for (const s of servers) s.close();
  log('PASS');
}

run().then(
  () => process.exit(0),
  (e) => fail(e.stack || String(e)),
);
