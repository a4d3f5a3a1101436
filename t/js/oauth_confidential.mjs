// A confidential OAuth client (token_endpoint_auth_method private_key_jwt)
// end to end: @atproto/oauth-client-node with its own ES256 key publishes
// its client metadata and JWKS under https://<CLIENT_HOST>/ (files written
// into CLIENT_DIR, served by the test's TLS server block), Chromium fills
// the sign-in page, the redirect to the client's https callback is caught
// in the browser; then createRecord, a refresh (a new client assertion)
// and a revocation.  Then raw PAR requests with bad client assertions.
// Prints TAP.  Environment: PDS_URL, PLC_URL, HANDLE, PASSWORD,
// OAUTH_CLIENT_DIR, CHROMIUM, CLIENT_DIR, CLIENT_HOST.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes, createHash } from 'node:crypto';
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
const { NodeOAuthClient, JoseKey } = await import(
  pathToFileURL(req.resolve('@atproto/oauth-client-node')).href);

const mem = () => {
  const m = new Map();
  return { get: async (k) => m.get(k), set: async (k, v) => { m.set(k, v); },
           del: async (k) => { m.delete(k); } };
};

const origin = `https://${env.CLIENT_HOST}`;
const clientId = `${origin}/client-metadata.json`;
const redirect = `${origin}/callback`;
const scope = 'atproto transition:generic';

const key = await JoseKey.generate(['ES256'], 'app-key-1');
const other = await JoseKey.generate(['ES256'], 'app-key-1');   // same kid, not published

const metadata = {
  client_id: clientId,
  client_name: 'Confidential test app',
  client_uri: origin,
  redirect_uris: [redirect],
  scope,
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'ES256',
  jwks_uri: `${origin}/jwks.json`,
  application_type: 'web',
  dpop_bound_access_tokens: true,
};
writeFileSync(`${env.CLIENT_DIR}/client-metadata.json`, JSON.stringify(metadata));
writeFileSync(`${env.CLIENT_DIR}/jwks.json`, JSON.stringify({ keys: [key.publicJwk] }));

const sessionStore = mem();
const client = new NodeOAuthClient({
  clientMetadata: metadata,
  keyset: [key],
  stateStore: mem(),
  sessionStore,
  allowHttp: true,
  plcDirectoryUrl: env.PLC_URL,
  handleResolver: env.PDS_URL,
});

// a client assertion as RFC 7523 says, signed by k
const assertion = (k, claims = {}) => k.createJwt(
  { alg: 'ES256', kid: 'app-key-1' },
  { iss: clientId, sub: clientId, aud: env.PDS_URL,
    jti: randomBytes(16).toString('hex'), iat: Math.floor(Date.now() / 1000),
    ...claims });

const par = async (fields) => {
  const verifier = randomBytes(32).toString('base64url');
  const body = new URLSearchParams({
    client_id: clientId, response_type: 'code', redirect_uri: redirect, scope,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256', state: randomBytes(8).toString('hex'),
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    ...fields,
  });
  for (const [k, v] of Object.entries(fields)) if (v === undefined) body.delete(k);
  const res = await fetch(`${env.PDS_URL}/oauth/par`, {
    method: 'POST', body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.status, json: await res.json().catch(() => null) };
};

let browser;
try {
  const url = await client.authorize(env.HANDLE, { scope });
  ok(url.href.startsWith(env.PDS_URL + '/oauth/authorize?'),
     'authorize(): PAR with a client assertion accepted (the PDS fetched the '
     + 'metadata and the JWKS over https)');

  browser = await chromium.launch({ executablePath: env.CHROMIUM,
                                    args: ['--no-sandbox'] });
  const page = await browser.newPage();
  let landed;
  const callback = new Promise((r) => { landed = r; });
  await page.route(`${origin}/**`, (route) => {
    landed(new URL(route.request().url()));
    route.fulfill({ status: 200, contentType: 'text/plain', body: 'signed in' });
  });
  await page.goto(url.href);
  ok(/Confidential test app|app\.example\.test/.test(await page.content()),
     'the page names the app');
  await page.fill('input[autocomplete="current-password"]', env.PASSWORD);
  await page.click('button[value="accept"]');
  const back = await Promise.race([
    callback,
    new Promise((_, rej) => setTimeout(() => rej(new Error('no callback')), 15000)),
  ]);
  ok(back.href.startsWith(redirect + '?'), 'redirected to the registered https callback');
  ok(back.searchParams.get('iss') === env.PDS_URL, '... with iss');

  const { session } = await client.callback(back.searchParams);
  ok(session.did.startsWith('did:plc:'),
     'callback(): the code exchanged with a client assertion');

  const call = async (method, nsid, body) => {
    const res = await session.fetchHandler(`/xrpc/${nsid}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };

  let r = await call('POST', 'com.atproto.repo.createRecord', {
    repo: session.did, collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'posted by a confidential client',
              createdAt: new Date().toISOString() },
  });
  ok(r.status === 200 && r.json.uri?.startsWith(`at://${session.did}/`), 'createRecord');

  const info = await session.getTokenInfo(false);
  const renewed = await session.getTokenInfo(true);
  ok(renewed.expiresAt && info !== renewed,
     'refresh: a new client assertion accepted at the token endpoint');
  r = await call('GET', 'com.atproto.server.getSession');
  ok(r.status === 200 && r.json.did === session.did, 'getSession after the refresh');

  await session.signOut();
  ok(!(await sessionStore.get(session.did)), 'signOut (revoke)');

  // ---- bad client assertions: the pushed request is refused
  r = await par({ client_assertion: await assertion(other) });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `an assertion signed by a key the client did not publish: 400 invalid_client (${r.status} ${r.json?.error})`);

  const once = await assertion(key);
  r = await par({ client_assertion: once });
  ok(r.status === 201 && r.json?.request_uri, `a fresh valid assertion: 201 (${r.status})`);
  r = await par({ client_assertion: once });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `the same assertion again (replayed jti): 400 invalid_client (${r.status} ${r.json?.error})`);

  r = await par({ client_assertion: await assertion(key, { aud: 'https://elsewhere.example' }) });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `an assertion for another audience: 400 invalid_client (${r.status} ${r.json?.error})`);

  r = await par({ client_assertion: await assertion(key, { iss: 'https://other.example.test/m.json',
                                                           sub: 'https://other.example.test/m.json' }) });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `an assertion issued by another client: 400 invalid_client (${r.status} ${r.json?.error})`);

  r = await par({ client_assertion: await assertion(key, { iat: Math.floor(Date.now() / 1000) - 3600 }) });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `an assertion an hour old: 400 invalid_client (${r.status} ${r.json?.error})`);

  r = await par({ client_assertion: undefined, client_assertion_type: undefined });
  ok(r.status === 400 && r.json?.error === 'invalid_request',
     `no assertion from a private_key_jwt client: 400 invalid_request (${r.status} ${r.json?.error})`);

  r = await par({ client_assertion: await assertion(key), client_assertion_type: 'urn:other' });
  ok(r.status === 400 && r.json?.error === 'invalid_client',
     `another assertion type: 400 invalid_client (${r.status} ${r.json?.error})`);
} catch (err) {
  ok(false, `flow: ${err?.stack ?? err}`);
} finally {
  if (browser) await browser.close();
}

console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
