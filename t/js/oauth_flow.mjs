// The whole OAuth flow with the ecosystem's client (@atproto/oauth-client-node,
// a loopback client) against the PDS, with real Chromium (playwright-core)
// filling the module's sign-in page; then createRecord, uploadBlob, a
// refresh and a revocation through the client's DPoP-bound session.
// Prints TAP.  Environment: PDS_URL (the public URL), PLC_URL, HANDLE,
// PASSWORD, OAUTH_CLIENT_DIR (a folder with @atproto/oauth-client-node
// installed), CHROMIUM, SCREENSHOT_DIR (optional: the page at desktop and
// phone width).
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const env = process.env;
let n = 0, failed = 0;
const ok = (cond, name) => {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  return cond;
};

const req = createRequire(env.OAUTH_CLIENT_DIR + '/');
const { NodeOAuthClient } = await import(
  pathToFileURL(req.resolve('@atproto/oauth-client-node')).href);

const mem = () => {
  const m = new Map();
  return { get: async (k) => m.get(k), set: async (k, v) => { m.set(k, v); },
           del: async (k) => { m.delete(k); } };
};

// the callback server: the redirect lands here
let resolveCallback;
const callbackParams = new Promise((r) => { resolveCallback = r; });
const server = createServer((rq, rs) => {
  const u = new URL(rq.url, 'http://127.0.0.1');
  if (u.pathname === '/cb') resolveCallback(u.searchParams);
  rs.writeHead(200, { 'content-type': 'text/plain' });
  rs.end('signed in');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const sessionStore = mem();
const redirect = `http://127.0.0.1:${server.address().port}/cb`;
const scope = 'atproto transition:generic';

const client = new NodeOAuthClient({
  clientMetadata: {
    client_id: `http://localhost?redirect_uri=${encodeURIComponent(redirect)}` +
               `&scope=${encodeURIComponent(scope)}`,
    redirect_uris: [redirect],
    scope,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    dpop_bound_access_tokens: true,
  },
  stateStore: mem(),
  sessionStore,
  allowHttp: true,
  plcDirectoryUrl: env.PLC_URL,
  handleResolver: env.PDS_URL,
});

let browser;
try {
  const url = await client.authorize(env.HANDLE, { scope });
  ok(url.href.startsWith(env.PDS_URL + '/oauth/authorize?'),
     'authorize() pushed the request and points at our page');

  browser = await chromium.launch({ executablePath: env.CHROMIUM,
                                    args: ['--no-sandbox'] });
  const page = await browser.newPage();
  await page.goto(url.href);
  ok(await page.locator('input[autocomplete="username"]').inputValue() === env.HANDLE,
     'the page shows the handle (login hint)');

  if (env.SCREENSHOT_DIR) {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: `${env.SCREENSHOT_DIR}/oauth-signin-desktop.png` });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${env.SCREENSHOT_DIR}/oauth-signin-phone.png`,
                            fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  await page.fill('input[autocomplete="current-password"]', 'not-the-password');
  await page.click('button[value="accept"]');
  const alert = page.locator('[role="alert"]');
  ok(/Invalid identifier or password/.test(await alert.innerText()),
     'a wrong password shows an error (role=alert) and stays on the page');
  ok(page.url().startsWith(env.PDS_URL), '... no redirect');

  await page.fill('input[autocomplete="current-password"]', env.PASSWORD);
  await page.click('button[value="accept"]');
  const params = await Promise.race([
    callbackParams,
    new Promise((_, rej) => setTimeout(() => rej(new Error('no callback')), 15000)),
  ]);
  ok(params.get('code')?.startsWith('cod-'), 'Authorize: redirected with a code');

  const { session } = await client.callback(params);
  ok(session.did.startsWith('did:plc:'), 'callback(): a session for the account');

  const call = async (method, nsid, body, type) => {
    const res = await session.fetchHandler(`/xrpc/${nsid}`, {
      method,
      headers: body ? { 'content-type': type ?? 'application/json' } : {},
      body: body ? (type ? body : JSON.stringify(body)) : undefined,
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };

  let r = await call('GET', 'com.atproto.server.getSession');
  ok(r.status === 200 && r.json.did === session.did, 'getSession with the DPoP-bound token');

  r = await call('POST', 'com.atproto.repo.createRecord', {
    repo: session.did, collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'posted through OAuth',
              createdAt: new Date().toISOString() },
  });
  ok(r.status === 200 && r.json.uri?.startsWith(`at://${session.did}/`), 'createRecord');

  r = await call('POST', 'com.atproto.repo.uploadBlob',
                 new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]), 'image/png');
  ok(r.status === 200 && r.json.blob?.ref?.$link, 'uploadBlob');

  const before = await session.getTokenInfo(false);
  const after = await session.getTokenInfo(true);
  ok(after.expiresAt && before !== after, 'refresh (forced) through the token endpoint');
  r = await call('GET', 'com.atproto.server.getSession');
  ok(r.status === 200, 'getSession after the refresh');

  // signOut revokes on the server: put the saved tokens back in the client's
  // store afterwards and the server refuses them
  const saved = await sessionStore.get(session.did);
  await session.signOut();
  ok(!(await sessionStore.get(session.did)), 'signOut (revoke)');
  await sessionStore.set(session.did, saved);
  let status;
  try {
    const again = await client.restore(session.did, false);
    status = (await again.fetchHandler('/xrpc/com.atproto.server.getSession')).status;
  } catch (err) {
    status = `refused (${err.constructor.name})`;
  }
  ok(status !== 200, `the revoked tokens no longer work (${status})`);
} catch (err) {
  ok(false, `flow: ${err?.stack ?? err}`);
} finally {
  if (browser) await browser.close();
  server.close();
}

console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
