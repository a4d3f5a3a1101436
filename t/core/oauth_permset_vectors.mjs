// Test vectors for t/core/test_oauth_permset.c (t/core/oauth_permset_vectors.h),
// answered by the reference's own packages (@atproto/oauth-scopes'
// IncludeScope.toScopes, @atproto/lex-document's lexiconDocumentSchema, with
// @atproto/pds 0.5.35).  Run with Node 22:
//   node t/core/oauth_permset_vectors.mjs > t/core/oauth_permset_vectors.h
import { createRequire } from 'node:module';
const require = createRequire('/work/ref/ref/node_modules/@atproto/pds/');
const s = await import(require.resolve('@atproto/oauth-scopes'));

const ld = await import(require.resolve('@atproto/lex-document'));

const P = (resource, o) => ({ type: 'permission', resource, ...o });
const set = (permissions, o = {}) => ({ type: 'permission-set', permissions, ...o });
const N = 'com.example.perms.set';
const expand = [
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.b', 'com.example.perms.a', 'com.example.perms.b'], action: ['delete', 'create'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a'], action: ['update', 'create', 'delete'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a'], action: ['read'] })])],
  [`include:${N}`, set([P('repo', { collection: 'com.example.perms.a' })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a'], extra: 'x' })])],
  [`include:${N}`, set([P('repo', { collection: ['*'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a', 'com.example.other.b'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.permsX.a'] })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.sub.deep'] })])],
  [`include:${N}`, set([P('repo', { collection: ['not an nsid'] })])],
  [`include:${N}`, set([P('repo', {})])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.perms.get'], aud: '*' })])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.perms.get'] })])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.perms.get'], aud: 'did:web:x.example#svc' })])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.perms.get'], inheritAud: true })])],
  [`include:${N}?aud=did:web:x.example%23svc`, set([P('rpc', { lxm: ['com.example.perms.get'], inheritAud: true })])],
  [`include:${N}?aud=did:web:x.example%23svc`, set([P('rpc', { lxm: ['com.example.perms.get'], inheritAud: false })])],
  [`include:${N}?aud=did:web:x.example%23svc`, set([P('rpc', { lxm: ['com.example.perms.get'], inheritAud: true, aud: '*' })])],
  [`include:${N}?aud=did:web:x.example%23svc`, set([P('rpc', { lxm: ['com.example.perms.b', 'com.example.perms.a'], inheritAud: true })])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.perms.b', 'com.example.perms.a'], aud: '*' })])],
  [`include:${N}`, set([P('rpc', { lxm: ['*'], aud: '*' })])],
  [`include:${N}`, set([P('rpc', { lxm: ['com.example.other.get'], aud: '*' })])],
  [`include:${N}`, set([P('blob', { accept: ['*/*'] }), P('account', { attr: 'email' }), P('identity', { attr: '*' })])],
  [`include:${N}`, set([P('repo', { collection: ['com.example.perms.a'], action: ['create'] }),
                       P('rpc', { lxm: ['com.example.perms.get'], aud: '*' }),
                       P('repo', { collection: ['com.example.perms.b'] })])],
];
const D = (main, o = {}) => ({ lexicon: 1, id: N, defs: main === undefined ? {} : { main }, ...o });
const docs = [
  ['ok', D(set([P('repo', { collection: ['com.example.perms.a'] })], { title: 't', detail: 'd', 'title:lang': { fr: 'x' } }))],
  ['ok, no permissions', D(set([]))],
  ['a record type', D({ type: 'record', key: 'tid', record: { type: 'object', properties: {} } })],
  ['a query', D({ type: 'query' })],
  ['no main', D(undefined)],
  ['lexicon 2', D(set([]), { lexicon: 2 })],
  ['another id', D(set([]), { id: 'com.example.perms.other' })],
  ['id not an NSID', D(set([]), { id: 'nope' })],
  ['no defs', { lexicon: 1, id: N }],
  ['title not a string', D(set([], { title: 3 }))],
  ['a permission of another type', D(set([{ type: 'perm', resource: 'repo' }]))],
  ['a permission without resource', D(set([{ type: 'permission' }]))],
  ['a permission with an empty resource', D(set([{ type: 'permission', resource: '' }]))],
  ['a permission with an object param', D(set([P('repo', { collection: { a: 1 } })]))],
  ['permissions not an array', D(set('x'))],
  ['title:lang not strings', D(set([], { 'title:lang': { fr: 1 } }))],
];
const q = (x) => JSON.stringify(x);
console.log('/* made by t/core/oauth_permset_vectors.mjs from the reference\'s packages: do not edit */');
console.log('static const struct { const char *v; const char *set; const char *out; } expand[] = {');
for (const [v, st] of expand) {
  const inc = s.IncludeScope.fromString(v);
  console.log(`    { ${q(v)}, ${q(q(st))}, ${q(inc.toScopes(st).join(' '))} },`);
}
console.log('};');
console.log('static const struct { const char *what; const char *doc; const char *result; } docs[] = {');
for (const [what, d] of docs) {
  const r = ld.lexiconDocumentSchema.safeParse(d);
  const res = !r.success || r.value.id !== N ? 'PDS_PERMSET_INVALID'
            : r.value.defs.main?.type !== 'permission-set' ? 'PDS_PERMSET_NOT_SET' : 'PDS_PERMSET_OK';
  console.log(`    { ${q(what)}, ${q(q(d))}, ${q(res)} },`);
}
console.log('};');
