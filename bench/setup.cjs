// Prepares one PDS for bench/run: an invite code made as admin, one account,
// and N preloaded app.bsky.feed.post records (written with a few concurrent
// requests).  Plain XRPC over fetch, so it treats both PDSes alike.
//
//   node setup.cjs <base url> <admin password> <handle> <records> <out dir>
//
// Writes <out dir>/did, <out dir>/jwt (the access token) and
// <out dir>/rkeys (one preloaded record key a line).
'use strict';

const fs = require('fs');
const path = require('path');

const [base, adminPassword, handle, countArg, outDir] = process.argv.slice(2);
const count = parseInt(countArg, 10);
const CONCURRENCY = 8;

async function xrpc(method, nsid, { body, auth, query } = {}) {
  const url = new URL(`/xrpc/${nsid}`, base);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
  const headers = {};
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`${nsid}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }
  return JSON.parse(text);
}

async function main() {
  const admin = 'Basic ' + Buffer.from(`admin:${adminPassword}`).toString('base64');
  const { code } = await xrpc('POST', 'com.atproto.server.createInviteCode', {
    body: { useCount: 1 },
    auth: admin,
  });
  const account = await xrpc('POST', 'com.atproto.server.createAccount', {
    body: {
      handle,
      email: `${handle.split('.')[0]}@example.com`,
      password: 'bench-password-1',
      inviteCode: code,
    },
  });
  const auth = `Bearer ${account.accessJwt}`;

  const rkeys = new Array(count);
  let next = 0;
  async function writer() {
    while (next < count) {
      const i = next++;
      const out = await xrpc('POST', 'com.atproto.repo.createRecord', {
        auth,
        body: {
          repo: account.did,
          collection: 'app.bsky.feed.post',
          record: {
            $type: 'app.bsky.feed.post',
            text: `preloaded post number ${i} for the benchmark, a sentence of ordinary length`,
            createdAt: new Date().toISOString(),
          },
        },
      });
      rkeys[i] = out.uri.split('/').pop();
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, writer));

  // the preloaded records must all be readable before the run measures reads
  const check = await xrpc('GET', 'com.atproto.repo.listRecords', {
    query: { repo: account.did, collection: 'app.bsky.feed.post', limit: '50' },
  });
  if (check.records.length !== Math.min(50, count)) {
    throw new Error(`listRecords returned ${check.records.length} records`);
  }

  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'did'), account.did + '\n');
  fs.writeFileSync(path.join(outDir, 'jwt'), account.accessJwt + '\n');
  fs.writeFileSync(path.join(outDir, 'rkeys'), rkeys.join('\n') + '\n');
  console.log(`${base}: ${account.did} (${handle}) with ${count} records`);
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
