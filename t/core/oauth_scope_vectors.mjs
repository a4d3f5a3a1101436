// Test vectors for t/core/test_oauth_scope.c (t/core/oauth_scope_vectors.h),
// answered by the reference's own @atproto/oauth-scopes (0.5.12, with
// @atproto/pds 0.5.35).  Run with Node 22:
//   node t/core/oauth_scope_vectors.mjs > t/core/oauth_scope_vectors.h
import { createRequire } from 'node:module';
const require = createRequire('/work/ref/ref/node_modules/@atproto/pds/');
const s = await import(require.resolve('@atproto/oauth-scopes'));
const values = [
  'atproto', 'transition:generic', 'transition:email', 'transition:chat.bsky',
  'transition:foo', 'openid', 'profile', 'email', '', 'ATPROTO',
  'repo:app.bsky.feed.post', 'repo:*', 'repo', 'repo:', 'repo:app',
  'repo:app.bsky.feed.post?action=create', 'repo:app.bsky.feed.post?action=create&action=delete',
  'repo?collection=app.bsky.feed.post&collection=app.bsky.feed.like',
  'repo:app.bsky.feed.post?collection=app.bsky.feed.like',
  'repo:app.bsky.feed.post?action=read', 'repo:app.bsky.feed.post?action=',
  'repo:app.bsky.feed.post?foo=bar', 'repo:app.bsky.feed.post?', 'repo:app.bsky.feed.post?&&action=update',
  'repo:app%2Ebsky.feed.post', 'repo:app.bsky.feed.post%', 'repo?collection=*&action=delete',
  'repos:app.bsky.feed.post', 'repo?x=a:b',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app#bsky_appview',
  'rpc:*?aud=did:web:api.bsky.app%23bsky_appview', 'rpc:*?aud=*', 'rpc:app.bsky.feed.getTimeline?aud=*',
  'rpc:app.bsky.feed.getTimeline', 'rpc?lxm=*&lxm=app.bsky.feed.getTimeline&aud=*',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app', 'rpc:app.bsky.feed.getTimeline?aud=did:plc:abcdefghijklmnopqrstuvwx%23svc',
  'rpc:app.bsky.feed.getTimeline?aud=did:plc:abc%23svc', 'rpc:app.bsky.feed.getTimeline?aud=did:key:zabc%23svc',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:a.com:path%23svc', 'rpc:app.bsky.feed.getTimeline?aud=did:web:a.com%253A8080%23svc',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:localhost%253A8080%23svc', 'rpc:app.bsky.feed.getTimeline?aud=*&aud=*',
  'rpc:app.bsky.feed.getTimeline?aud=did:web:a.com%23svc%23x', 'rpc:app.bsky.feed.getTimeline?aud=did:web:a.com%23',
  'blob:image/*', 'blob:*/*', 'blob:image/png', 'blob:image', 'blob:*/png', 'blob?accept=image/*&accept=video/*',
  'blob:image/png?accept=video/*', 'blob:/png', 'blob:image/', 'blob:a/b/c', 'blob:image%2Fpng', 'blob:IMAGE/PNG', 'blob',
  'account:email', 'account:email?action=manage', 'account:repo?action=manage', 'account:status?action=read',
  'account:foo', 'account?attr=email&attr=repo', 'account:email?action=write', 'account:email?action=read&action=manage',
  'identity:handle', 'identity:*', 'identity:did', 'identity', 'identity?attr=handle',
  'include:com.example.authFull', 'include:com.example.authFull?aud=did:web:a.com%23svc', 'include:com', 'include:*',
  'include:com.example.authFull?aud=*',
];
const kind = (v) => {
  // a malformed escape makes the reference throw (URIError): not a scope here
  try { if (!s.isAtprotoOauthScope(v)) return 'PDS_SCOPE_NONE'; } catch { return 'PDS_SCOPE_NONE'; }
  if (s.isStaticScopeValue(v)) return 'PDS_SCOPE_STATIC';
  return 'PDS_SCOPE_' + v.split(/[:?]/)[0].toUpperCase();
};
const q = (x) => JSON.stringify(x);
const tokens = [
  'atproto', 'atproto transition:generic', 'atproto transition:chat.bsky', 'atproto transition:email',
  'atproto repo:app.bsky.feed.post?action=create', 'atproto repo:*?action=delete', 'atproto repo:app.bsky.feed.post',
  'atproto repo?collection=app.bsky.feed.post&collection=app.bsky.feed.like&action=update',
  'atproto blob:image/*', 'atproto blob:*/*', 'atproto blob?accept=video/mp4&accept=image/png',
  'atproto account:email', 'atproto account:email?action=manage', 'atproto account:status?action=manage account:repo',
  'atproto identity:handle', 'atproto identity:*',
  'atproto rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview', 'atproto rpc:*?aud=did:web:api.bsky.app%23bsky_appview',
  'atproto rpc:chat.bsky.convo.listConvos?aud=*', 'atproto rpc:*?aud=*',
];
const needs = [
  ['REPO', 'app.bsky.feed.post', 'create'], ['REPO', 'app.bsky.feed.post', 'update'], ['REPO', 'app.bsky.feed.post', 'delete'],
  ['REPO', 'app.bsky.feed.like', 'update'], ['REPO', 'com.example.foo', 'delete'], ['REPO', 'not an nsid', 'create'],
  ['BLOB', 'image/png'], ['BLOB', 'video/mp4'], ['BLOB', 'text/plain'], ['BLOB', 'Image/PNG'], ['BLOB', 'image/svg+xml'], ['BLOB', 'image/*'],
  ['ACCOUNT', 'email', 'read'], ['ACCOUNT', 'email', 'manage'], ['ACCOUNT', 'status', 'manage'], ['ACCOUNT', 'repo', 'manage'],
  ['IDENTITY', 'handle'], ['IDENTITY', '*'],
  ['RPC', 'app.bsky.feed.getTimeline', 'did:web:api.bsky.app#bsky_appview'], ['RPC', 'app.bsky.feed.getTimeline', 'did:web:other.example#bsky_appview'],
  ['RPC', 'chat.bsky.convo.listConvos', 'did:web:api.bsky.chat#bsky_chat'], ['RPC', '*', 'did:web:api.bsky.app#bsky_appview'],
  ['RPC', 'app.bsky.actor.getProfile', 'did:plc:abcdefghijklmnopqrstuvwx#atproto_labeler'],
];
const allows = (p, n) => {
  const [k, a, b] = n;
  if (k === 'REPO') return p.allowsRepo({ collection: a, action: b });
  if (k === 'BLOB') return p.allowsBlob({ mime: a });
  if (k === 'ACCOUNT') return p.allowsAccount({ attr: a, action: b });
  if (k === 'IDENTITY') return p.allowsIdentity({ attr: a });
  return p.allowsRpc({ lxm: a, aud: b });
};
const needed = (n) => {
  const [k, a, b] = n;
  try {
    const p = new s.ScopePermissions('atproto');
    if (k === 'REPO') p.assertRepo({ collection: a, action: b });
    if (k === 'BLOB') p.assertBlob({ mime: a });
    if (k === 'ACCOUNT') p.assertAccount({ attr: a, action: b });
    if (k === 'IDENTITY') p.assertIdentity({ attr: a });
    if (k === 'RPC') p.assertRpc({ lxm: a, aud: b });
  } catch (e) { return e.scope; }
  return null;
};
let o = '/* made by t/core/oauth_scope_vectors.mjs from @atproto/oauth-scopes */\n';
o += 'static const struct { const char *v; pds_scope_kind_e kind; } kinds[] = {\n';
for (const v of values) o += `    { ${q(v)}, ${kind(v)} },\n`;
o += '};\n\nstatic const struct { const char *kind, *a, *b, *needed; } needs[] = {\n';
for (const n of needs) o += `    { ${q(n[0])}, ${q(n[1])}, ${q(n[2] ?? '')}, ${q(needed(n))} },\n`;
o += '};\n\nstatic const char *tokens[] = {\n';
for (const t of tokens) o += `    ${q(t)},\n`;
o += '};\n\n/* allows[token][need] */\nstatic const char allows[][' + needs.length + '] = {\n';
for (const t of tokens) {
  const p = new s.ScopePermissionsTransition(t.split(' '));
  o += '    { ' + needs.map((n) => allows(p, n) ? 1 : 0).join(', ') + ' },\n';
}
o += '};\n';
process.stdout.write(o);
