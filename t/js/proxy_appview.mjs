// The AppView proxy against the ecosystem's own code: stand-in services on
// loopback verify every incoming service JWT with @atproto/xrpc-server's
// verifyJwt (the issuer's key resolved through the same local PLC
// directory with @atproto/identity), @atproto/api talks to our PDS only.
// Also preferences, getServiceAuth, the atproto-proxy header (a did:plc
// registered here with service entries), upstream failures, and a 50 MB
// response streamed with the nginx worker's memory watched.  The calls
// whose token is not the plain proxy's, checked as their receivers would:
// getFeed (a token for the feed generator, verified as the generator
// would), registerPush/unregisterPush (for the body's serviceDid: the
// AppView or a push service found by its DID document), getRecord of a
// repo hosted elsewhere (to the AppView, without credentials), and
// checkSignupQueue (answered locally).  Prints TAP.
//
// Environment: PDS_URL, PLC_URL, PDS_ADMIN, APPVIEW_PORT, APPVIEW_DID,
// SVC_PORT, DEAD_PORT, WORKER_PID.
import http from 'node:http'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { AtpAgent } from '@atproto/api'
import { verifyJwt, createServiceJwt } from '@atproto/xrpc-server'
import { IdResolver } from '@atproto/identity'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

import { ok, is, done } from './tap.mjs'

const rejects = async (p, pattern, name) => {
  try {
    await p
    ok(false, name)
    console.log('#   did not throw')
  } catch (err) {
    const text = `${err?.error ?? ''} ${err?.message ?? err}`
    ok(pattern.test(text), name)
    if (!pattern.test(text)) console.log(`#   threw ${text}`)
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const service = process.env.PDS_URL
const plcUrl = process.env.PLC_URL
const admin = process.env.PDS_ADMIN
const appviewDid = process.env.APPVIEW_DID
const BIG = 50 * 1024 * 1024
const FEEDGEN_DID = 'did:web:feedgen.test'

const idResolver = new IdResolver({ plcUrl })
const getSigningKey = (iss, force) => idResolver.did.resolveAtprotoKey(iss, force)

// A stand-in XRPC service: every call must carry a service JWT for ownDid
// and the called method, or it gets 401; expect[nsid] changes that for a
// method: 'anonymous' (no Authorization at all) or { aud, lxm } (a token
// meant for another service, which this one hands on).
function standIn(port, ownDid, handlers, expect = {}) {
  const seen = []
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://stand-in')
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    const token = (req.headers.authorization || '').replace(/^Bearer /, '')
    const rec = { nsid, url, method: req.method, headers: req.headers, token }
    const chunks = []
    for await (const c of req) chunks.push(c)
    rec.body = Buffer.concat(chunks).toString('utf8')
    seen.push(rec)
    try {
      const want = expect[nsid]
      if (want === 'anonymous') {
        if (req.headers.authorization !== undefined) throw new Error('credentials sent')
      } else {
        rec.payload = await verifyJwt(token, want?.aud ?? ownDid, want?.lxm ?? nsid, getSigningKey)
      }
    } catch (err) {
      rec.err = err
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'AuthenticationRequired', message: String(err.message) }))
      return
    }
    const h = handlers[nsid]
    if (!h) {
      res.writeHead(501, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'MethodNotImplemented', message: 'no' }))
      return
    }
    try {
      await h(req, res, rec)
    } catch (err) {
      console.log(`# stand-in handler: ${err}`)
      res.destroy()
    }
  })
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ server, seen, last: () => seen[seen.length - 1] })),
  )
}

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
  res.end(JSON.stringify(body))
}

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

// the byte at offset i of the big response
const bigByte = (i) => (i * 7 + (i >> 16)) & 0xff

async function main() {
  const cid = CID.createV1(0x71, await sha256.digest(Buffer.from('stand-in post'))).toString()
  let aliceDid = 'did:plc:unknown'

  const appview = await standIn(Number(process.env.APPVIEW_PORT), appviewDid, {
    'app.bsky.feed.getTimeline': (req, res, rec) =>
      json(res, 200, {
        cursor: 'next-page',
        feed: [
          {
            post: {
              uri: `at://${aliceDid}/app.bsky.feed.post/3kabcdefghi22`,
              cid,
              author: { did: aliceDid, handle: 'alice.test' },
              record: {
                $type: 'app.bsky.feed.post',
                text: 'hello from the stand-in appview',
                createdAt: '2024-01-01T00:00:00.000Z',
              },
              indexedAt: '2024-01-01T00:00:00.000Z',
            },
          },
        ],
      }, {
        'atproto-repo-rev': '3kabcdefghi22',
        'x-upstream-secret': 'must-not-pass',
        'set-cookie': 'session=upstream',
        'x-accel-redirect': '/xrpc/_health',
      }),
    'app.bsky.actor.getProfile': (req, res, rec) =>
      json(res, 200, {
        did: rec.url.searchParams.get('actor') === 'alice.test' ? aliceDid : 'did:plc:other',
        handle: 'alice.test',
        displayName: 'Alice (stand-in)',
        followersCount: 7,
      }, { 'content-language': 'en' }),
    // the feed generator's record, as the AppView indexed it
    'com.atproto.repo.getRecord': (req, res, rec) => {
      const q = rec.url.searchParams
      if (q.get('collection') === 'app.bsky.feed.generator') {
        if (q.get('rkey') === 'gone') {
          return json(res, 400, { error: 'RecordNotFound', message: 'Could not locate record' })
        }
        return json(res, 200, {
          uri: `at://${q.get('repo')}/app.bsky.feed.generator/${q.get('rkey')}`,
          cid,
          value: q.get('rkey') === 'nodid'
            ? { $type: 'app.bsky.feed.generator', displayName: 'no did' }
            : { $type: 'app.bsky.feed.generator', did: FEEDGEN_DID, displayName: 'Cats',
                createdAt: '2024-01-01T00:00:00.000Z' },
        })
      }
      json(res, 200, {
        uri: `at://${q.get('repo')}/${q.get('collection')}/${q.get('rkey')}`,
        cid,
        value: { $type: 'app.bsky.feed.post', text: 'a post hosted elsewhere',
                 createdAt: '2024-01-01T00:00:00.000Z' },
      })
    },
    // the AppView hands the token on to the feed generator, which checks it
    'app.bsky.feed.getFeed': async (req, res, rec) => {
      try {
        rec.feedgen = await verifyJwt(rec.token, FEEDGEN_DID, 'app.bsky.feed.getFeedSkeleton', getSigningKey)
      } catch (err) {
        rec.feedgenErr = err
        return json(res, 401, { error: 'AuthenticationRequired', message: String(err.message) })
      }
      json(res, 200, {
        cursor: 'next-page',
        feed: [{
          post: {
            uri: `at://${aliceDid}/app.bsky.feed.post/3kabcdefghi22`,
            cid,
            author: { did: aliceDid, handle: 'alice.test' },
            record: { $type: 'app.bsky.feed.post', text: 'from the feed generator',
                      createdAt: '2024-01-01T00:00:00.000Z' },
            indexedAt: '2024-01-01T00:00:00.000Z',
          },
        }],
      })
    },
    'app.bsky.notification.registerPush': (req, res) => { res.writeHead(200); res.end() },
    'app.bsky.notification.unregisterPush': (req, res) => { res.writeHead(200); res.end() },
    'app.bsky.unspecced.getFail500': (req, res) =>
      json(res, 500, { error: 'InternalServerError', message: 'boom' }),
    'app.bsky.unspecced.getFail400': (req, res) =>
      json(res, 400, { error: 'NotFound', message: 'no such thing' }),
    'app.bsky.unspecced.getBig': async (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG })
      const chunk = 64 * 1024
      for (let off = 0; off < BIG; off += chunk) {
        const b = Buffer.allocUnsafe(chunk)
        for (let i = 0; i < chunk; i++) b[i] = bigByte(off + i)
        if (!res.write(b)) await new Promise((r) => res.once('drain', r))
      }
      res.end()
    },
  }, {
    'app.bsky.feed.getFeed': { aud: FEEDGEN_DID, lxm: 'app.bsky.feed.getFeedSkeleton' },
    'com.atproto.repo.getRecord': 'anonymous',
  })

  // ---- an account ----------------------------------------------------------

  const invite = await fetch(`${service}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64'),
    },
    body: JSON.stringify({ useCount: 1 }),
  }).then((r) => r.json())

  const agent = new AtpAgent({ service })
  await agent.createAccount({
    email: 'alice@example.com',
    handle: 'alice.test',
    password: 'alice-password-1',
    inviteCode: invite.code,
  })
  aliceDid = agent.session.did
  ok(/^did:plc:/.test(aliceDid), 'an account to proxy for')

  // ---- the AppView through @atproto/api --------------------------------------

  const tl = await agent.getTimeline({ limit: 3 })
  is(tl.data.feed[0]?.post.record.text, 'hello from the stand-in appview',
     'agent.getTimeline() answers with the stand-in AppView\'s timeline')
  is(tl.data.cursor, 'next-page', '... its cursor')
  let rec = appview.last()
  is(rec.err, undefined, 'the stand-in\'s verifyJwt accepted the service JWT')
  is(rec.payload?.iss, aliceDid, 'iss = the account DID')
  is(rec.payload?.aud, appviewDid, 'aud = the AppView DID')
  is(rec.payload?.lxm, 'app.bsky.feed.getTimeline', 'lxm = the called method')
  const [h64, p64] = rec.token.split('.')
  const header = JSON.parse(Buffer.from(h64, 'base64url'))
  const claims = JSON.parse(Buffer.from(p64, 'base64url'))
  is(header.alg, 'ES256K', 'signed ES256K')
  ok(claims.exp - claims.iat <= 60 && claims.exp > Date.now() / 1000, 'exp = iat + 60 s at most')
  ok(/^[0-9a-f]{32}$/.test(claims.jti ?? ''), 'a jti')
  ok(rec.token !== agent.session.accessJwt, 'never the client\'s own token')
  is(rec.url.search, '?limit=3', 'the query string is forwarded as sent')
  is(tl.headers['atproto-repo-rev'], '3kabcdefghi22', 'atproto-repo-rev passed back')
  is(tl.headers['x-upstream-secret'], undefined, 'other upstream headers are not passed back')
  is(tl.headers['set-cookie'], undefined, '... nor Set-Cookie')
  is(tl.headers['cache-control'], 'private', 'Cache-Control: private, as authenticated reads')

  const prof = await agent.getProfile({ actor: 'alice.test' })
  is(prof.data.displayName, 'Alice (stand-in)', 'agent.getProfile() answers with the stand-in\'s profile')
  is(prof.data.did, aliceDid, '... for the actor asked')
  is(prof.headers['content-language'], 'en', 'content-language passed back')
  is(appview.last().payload?.lxm, 'app.bsky.actor.getProfile', 'lxm = getProfile')

  // request headers: the reference's allow-list only
  let res = await fetch(`${service}/xrpc/app.bsky.actor.getProfile?actor=alice.test`, {
    headers: {
      authorization: `Bearer ${agent.session.accessJwt}`,
      'accept-language': 'fr, en;q=0.5',
      'atproto-accept-labelers': 'did:plc:ar7c4by46qjdydhdevvrndac;redact',
      'x-bsky-topics': 'dev',
      'x-private': 'do-not-forward',
      cookie: 'a=b',
      'atproto-proxy': `${appviewDid}#bsky_appview`,
    },
  })
  is(res.status, 200, 'explicit atproto-proxy to the configured AppView')
  rec = appview.last()
  is(rec.headers['accept-language'], 'fr, en;q=0.5', 'accept-language forwarded')
  is(rec.headers['atproto-accept-labelers'], 'did:plc:ar7c4by46qjdydhdevvrndac;redact',
     'atproto-accept-labelers forwarded')
  is(rec.headers['x-bsky-topics'], 'dev', 'x-bsky-topics forwarded')
  is(rec.headers['x-private'], undefined, 'other request headers are not forwarded')
  is(rec.headers.cookie, undefined, '... nor cookies')
  is(rec.headers['atproto-proxy'], undefined, '... nor atproto-proxy')

  // ---- getFeed: a token for the feed generator ------------------------------

  let ans
  const feedUri = `at://${aliceDid}/app.bsky.feed.generator/cats`
  let seenBefore = appview.seen.length
  const feed = await agent.app.bsky.feed.getFeed({ feed: feedUri, limit: 7 })
  is(feed.data.feed[0]?.post?.uri, `at://${aliceDid}/app.bsky.feed.post/3kabcdefghi22`,
     'agent.app.bsky.feed.getFeed() answers with the feed')
  const feedCalls = appview.seen.slice(seenBefore)
  is(feedCalls.map((c) => c.nsid).join(' '), 'com.atproto.repo.getRecord app.bsky.feed.getFeed',
     'getFeed: the generator record from the AppView, then the feed from the AppView')
  const grec = feedCalls[0]
  is(grec?.headers.authorization, undefined, '... the record asked for without credentials')
  is(`${grec?.url.searchParams.get('repo')} ${grec?.url.searchParams.get('collection')} ${grec?.url.searchParams.get('rkey')}`,
     `${aliceDid} app.bsky.feed.generator cats`, '... the record the feed URI names')
  rec = feedCalls[1]
  is(rec?.feedgenErr, undefined, 'the feed generator\'s verifyJwt accepts the token the AppView hands on')
  is(rec?.feedgen?.aud, FEEDGEN_DID, 'aud = the generator DID from its record')
  is(rec?.feedgen?.lxm, 'app.bsky.feed.getFeedSkeleton', 'lxm = app.bsky.feed.getFeedSkeleton')
  is(rec?.feedgen?.iss, aliceDid, 'iss = the account')
  ok(rec?.url.searchParams.get('feed') === feedUri && rec?.url.searchParams.get('limit') === '7',
     '... the parameters forwarded as sent')
  {
    // the signature, checked by hand against the key of the account's DID document
    const [h, p, sg] = rec.token.split('.')
    const didKey = await idResolver.did.resolveAtprotoKey(aliceDid, true)
    ok(await verifySignature(didKey, Buffer.from(`${h}.${p}`), Buffer.from(sg, 'base64url')),
       '@atproto/crypto verifies the token\'s signature with the DID document\'s #atproto key')
    const forger = await Secp256k1Keypair.create()
    const forged = await createServiceJwt({ iss: aliceDid, aud: FEEDGEN_DID,
                                            lxm: 'app.bsky.feed.getFeedSkeleton', keypair: forger })
    const [fh, fp, fs] = forged.split('.')
    ok(!(await verifySignature(didKey, Buffer.from(`${fh}.${fp}`), Buffer.from(fs, 'base64url'))),
       '... and refuses one signed with another key')
    await rejects(verifyJwt(rec.token, appviewDid, 'app.bsky.feed.getFeedSkeleton', getSigningKey),
                  /BadJwtAudience|audience/i, 'the token is not the AppView\'s own (aud)')
    await rejects(verifyJwt(rec.token, FEEDGEN_DID, 'app.bsky.feed.getFeed', getSigningKey),
                  /BadJwtLexiconMethod|lxm/i, '... nor for getFeed itself (lxm)')
  }
  await rejects(agent.app.bsky.feed.getFeed({ feed: `at://${aliceDid}/app.bsky.feed.generator/nodid` }),
                /could not resolve feed did/, 'a generator record without a did: the reference\'s refusal')
  await rejects(agent.app.bsky.feed.getFeed({ feed: `at://${aliceDid}/app.bsky.feed.generator/gone` }),
                /RecordNotFound/, 'the AppView\'s RecordNotFound for the record: passed on')
  res = await fetch(`${service}/xrpc/app.bsky.feed.getFeed?feed=at://${aliceDid}/app.bsky.feed.generator/nodid`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  ans = await res.json()
  ok(res.status === 400 && ans.error === 'InvalidRequestError', 'its status and name as the reference\'s (400 InvalidRequestError)')
  res = await fetch(`${service}/xrpc/app.bsky.feed.getFeed?feed=${feedUri}&limit=500`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  ans = await res.json()
  is(ans.message, 'Invalid app.bsky.feed.getFeed params: integer too big (maximum 100, got 500)',
     'getFeed: the parameters checked first, as the reference')

  // ---- getRecord of a repo hosted elsewhere: the AppView, no credentials -----

  seenBefore = appview.seen.length
  const elsewhere = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
  res = await fetch(`${service}/xrpc/com.atproto.repo.getRecord?repo=${elsewhere}&collection=app.bsky.feed.post&rkey=3kabcdefghi22`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  ans = await res.json()
  ok(res.status === 200 && ans.value?.text === 'a post hosted elsewhere',
     'getRecord of a repo hosted elsewhere: the AppView\'s answer')
  rec = appview.seen[seenBefore]
  is(rec?.nsid, 'com.atproto.repo.getRecord', '... asked of the AppView')
  is(rec?.headers.authorization, undefined, '... without the caller\'s Authorization (nor a service token)')
  is(rec?.url.search, `?repo=${elsewhere}&collection=app.bsky.feed.post&rkey=3kabcdefghi22`, '... the query as sent')
  const anon = await new AtpAgent({ service }).com.atproto.repo.getRecord({
    repo: elsewhere, collection: 'app.bsky.feed.post', rkey: '3kabcdefghi22',
  })
  is(anon.data.value.text, 'a post hosted elsewhere', '... and for a caller without a session')

  // ---- checkSignupQueue: answered here ---------------------------------------

  seenBefore = appview.seen.length
  const queue = await agent.com.atproto.temp.checkSignupQueue()
  is(JSON.stringify(queue.data), '{"activated":true}', 'checkSignupQueue: {"activated":true}, answered locally')
  is(appview.seen.length, seenBefore, '... the AppView is not asked')

  // ---- registerPush to the AppView ---------------------------------------------

  const pushBody = { serviceDid: appviewDid, token: 'device-token-1', platform: 'ios', appId: 'xyz.blueskyweb.app' }
  seenBefore = appview.seen.length
  const reg = await agent.app.bsky.notification.registerPush(pushBody)
  ok(reg.success, 'registerPush with serviceDid = the AppView')
  rec = appview.seen[seenBefore]
  is(rec?.err, undefined, '... the AppView\'s verifyJwt accepts the token')
  is(rec?.payload?.aud, appviewDid, '... aud = serviceDid')
  is(rec?.payload?.lxm, 'app.bsky.notification.registerPush', '... lxm = registerPush')
  is(rec?.payload?.iss, aliceDid, '... iss = the account')
  is(JSON.stringify(JSON.parse(rec?.body || 'null')), JSON.stringify(pushBody), '... the body forwarded')
  is(rec?.headers['content-type'], 'application/json', '... as JSON')
  await agent.app.bsky.notification.unregisterPush(pushBody)
  is(appview.last().payload?.lxm, 'app.bsky.notification.unregisterPush', 'unregisterPush: lxm = unregisterPush')
  res = await fetch(`${service}/xrpc/app.bsky.notification.registerPush`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.session.accessJwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...pushBody, serviceDid: 'not-a-did' }),
  })
  ans = await res.json()
  is(ans.message, 'Invalid DID (got "not-a-did") at $.serviceDid', 'registerPush: the input checked as the reference')

  // ---- the verifier refuses what it should ----------------------------------

  const good = rec.token
  await rejects(verifyJwt(good, 'did:web:other.test', 'app.bsky.actor.getProfile', getSigningKey),
                /BadJwtAudience|audience/i, 'verifyJwt refuses the token for another aud')
  await rejects(verifyJwt(good, appviewDid, 'app.bsky.feed.getTimeline', getSigningKey),
                /BadJwtLexiconMethod|lxm/i, '... for another method')
  const forger = await Secp256k1Keypair.create()
  const forged = await createServiceJwt({
    iss: aliceDid, aud: appviewDid, lxm: 'app.bsky.feed.getTimeline', keypair: forger,
  })
  await rejects(verifyJwt(forged, appviewDid, 'app.bsky.feed.getTimeline', getSigningKey),
                /BadJwtSignature|signature/i, '... a token forged with another key')
  res = await fetch(`http://127.0.0.1:${process.env.APPVIEW_PORT}/xrpc/app.bsky.feed.getTimeline`, {
    headers: { authorization: `Bearer ${forged}` },
  })
  is(res.status, 401, 'the stand-in answers 401 to the forged token')

  // ---- getServiceAuth ------------------------------------------------------

  const now = () => Math.floor(Date.now() / 1000)
  let sa = await agent.com.atproto.server.getServiceAuth({
    aud: appviewDid, lxm: 'app.bsky.feed.getTimeline', exp: now() + 2,
  })
  let p = await verifyJwt(sa.data.token, appviewDid, 'app.bsky.feed.getTimeline', getSigningKey)
  is(p.iss, aliceDid, 'getServiceAuth: a token the verifier accepts')
  await sleep(3200)
  await rejects(verifyJwt(sa.data.token, appviewDid, 'app.bsky.feed.getTimeline', getSigningKey),
                /JwtExpired|expired/i, 'verifyJwt refuses it once expired')
  sa = await agent.com.atproto.server.getServiceAuth({ aud: appviewDid })
  p = await verifyJwt(sa.data.token, appviewDid, null, getSigningKey)
  ok(p.exp - now() <= 60 && p.lxm === undefined, 'method-less token: 60 s, no lxm')
  await rejects(agent.com.atproto.server.getServiceAuth({ aud: appviewDid, lxm: 'app.bsky.feed.getTimeline', exp: now() + 7200 }),
                /BadExpiration.*more than an hour/, 'exp over an hour: BadExpiration')
  await rejects(agent.com.atproto.server.getServiceAuth({ aud: appviewDid, exp: now() + 120 }),
                /BadExpiration.*method-less token/, 'method-less over a minute: BadExpiration')
  await rejects(agent.com.atproto.server.getServiceAuth({ aud: appviewDid, exp: now() - 10 }),
                /BadExpiration.*in past/, 'exp in the past: BadExpiration')
  await rejects(agent.com.atproto.server.getServiceAuth({ aud: appviewDid, lxm: 'com.atproto.server.updateEmail' }),
                /protected method: com\.atproto\.server\.updateEmail/, 'protected method refused')
  await rejects(agent.com.atproto.server.getServiceAuth({ aud: 'not-a-did' }),
                /aud must be a valid atproto DID/, 'aud must be a DID')

  // ---- atproto-proxy to a second service (a did:plc registered here) --------

  const svcPort = Number(process.env.SVC_PORT)
  const svcKey = await Secp256k1Keypair.create()
  const op = await plc.signOperation({
    type: 'plc_operation',
    verificationMethods: { atproto: svcKey.did() },
    rotationKeys: [svcKey.did()],
    alsoKnownAs: [],
    services: {
      bsky_fg: { type: 'BskyFeedGenerator', endpoint: `http://127.0.0.1:${svcPort}` },
      bsky_chat: { type: 'BskyChatService', endpoint: `http://127.0.0.1:${svcPort}/` },
      dead: { type: 'Nothing', endpoint: `http://127.0.0.1:${process.env.DEAD_PORT}` },
      bsky_notif: { type: 'BskyNotificationService', endpoint: `http://127.0.0.1:${svcPort}` },
    },
    prev: null,
  }, svcKey)
  const svcDid = await plc.didForCreateOp(op)
  await new plc.Client(plcUrl).sendOperation(svcDid, op)

  const second = await standIn(svcPort, svcDid, {
    'app.bsky.feed.getFeedSkeleton': (req, res, rec) =>
      json(res, 200, { feed: [{ post: `at://${aliceDid}/app.bsky.feed.post/3kabcdefghi22` }],
                       cursor: rec.url.searchParams.get('feed') }),
    'app.bsky.notification.registerPush': (req, res) => { res.writeHead(200); res.end() },
    'app.bsky.notification.unregisterPush': (req, res) => { res.writeHead(200); res.end() },
    'chat.bsky.convo.sendMessage': (req, res, rec) => {
      const body = JSON.parse(rec.body)
      json(res, 200, {
        id: 'm1', rev: '1', text: body.message.text,
        sender: { did: aliceDid }, sentAt: '2024-01-01T00:00:00.000Z',
      })
    },
  })

  // ---- registerPush to a push service: its DID document's #bsky_notif ------

  const appviewSeen = appview.seen.length
  const push2 = { serviceDid: svcDid, token: 'device-token-2', platform: 'android', appId: 'xyz.blueskyweb.app' }
  const reg2 = await agent.app.bsky.notification.registerPush(push2)
  ok(reg2.success, 'registerPush with serviceDid = a push service (did:plc)')
  rec = second.last()
  is(rec?.nsid, 'app.bsky.notification.registerPush', '... sent to the #bsky_notif endpoint of its DID document')
  is(rec?.err, undefined, '... whose verifyJwt accepts the token')
  is(rec?.payload?.aud, svcDid, '... aud = serviceDid')
  is(rec?.payload?.lxm, 'app.bsky.notification.registerPush', '... lxm = registerPush')
  is(JSON.parse(rec?.body || '{}').token, 'device-token-2', '... with the body')
  await agent.app.bsky.notification.unregisterPush(push2)
  is(second.last().payload?.lxm, 'app.bsky.notification.unregisterPush', 'unregisterPush to it as well')
  is(appview.seen.length, appviewSeen, 'the AppView saw none of it')
  {
    const key = await Secp256k1Keypair.create()
    const op2 = await plc.signOperation({
      type: 'plc_operation', verificationMethods: { atproto: key.did() }, rotationKeys: [key.did()],
      alsoKnownAs: [], prev: null,
      services: { bsky_notif: { type: 'BskyFeedGenerator', endpoint: `http://127.0.0.1:${svcPort}` } },
    }, key)
    const wrongDid = await plc.didForCreateOp(op2)
    await new plc.Client(plcUrl).sendOperation(wrongDid, op2)
    await rejects(agent.app.bsky.notification.registerPush({ ...push2, serviceDid: wrongDid }),
                  new RegExp(`invalid notification service details in did document: ${wrongDid}`),
                  'a #bsky_notif entry of another type: the reference\'s refusal')
  }
  await rejects(agent.app.bsky.notification.registerPush({ ...push2, serviceDid: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }),
                /could not resolve did document: did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/,
                'an unknown serviceDid: the reference\'s refusal')

  const feedAgent = agent.withProxy('bsky_fg', svcDid)
  const fs1 = await feedAgent.app.bsky.feed.getFeedSkeleton({ feed: 'at://x/app.bsky.feed.generator/y' })
  is(fs1.data.cursor, 'at://x/app.bsky.feed.generator/y', 'atproto-proxy routes to the second service')
  rec = second.last()
  is(rec.err, undefined, '... whose verifyJwt accepts the token')
  is(rec.payload?.aud, svcDid, '... aud = its DID, without the fragment')
  const before = appview.seen.length
  await feedAgent.app.bsky.feed.getFeedSkeleton({ feed: 'at://x/app.bsky.feed.generator/z' })
  is(second.last().url.searchParams.get('feed'), 'at://x/app.bsky.feed.generator/z', 'again (cached DID document)')
  is(appview.seen.length, before, 'the AppView saw none of it')

  const chatAgent = agent.withProxy('bsky_chat', svcDid)
  const sent = await chatAgent.chat.bsky.convo.sendMessage({ convoId: 'c1', message: { text: 'hi there' } })
  is(sent.data.text, 'hi there', 'a POST body is forwarded (chat sendMessage)')
  rec = second.last()
  is(rec.headers['content-type'], 'application/json', '... with its content-type')
  is(rec.payload?.lxm, 'chat.bsky.convo.sendMessage', '... lxm = sendMessage')

  // app passwords: not privileged, so no DMs
  const apw = await agent.com.atproto.server.createAppPassword({ name: 'plain' })
  const appAgent = new AtpAgent({ service })
  await appAgent.login({ identifier: 'alice.test', password: apw.data.password })
  await rejects(appAgent.withProxy('bsky_chat', svcDid).chat.bsky.convo.sendMessage({ convoId: 'c1', message: { text: 'x' } }),
                /InvalidToken.*Bad token method|Bad token method/, 'app password: chat DMs refused (privileged)')
  const tl2 = await appAgent.getTimeline()
  ok(tl2.success, 'app password: the timeline is fine')

  const bad = async (hdr) => {
    const r = await fetch(`${service}/xrpc/app.bsky.feed.getFeedSkeleton?feed=a`, {
      headers: { authorization: `Bearer ${agent.session.accessJwt}`, 'atproto-proxy': hdr },
    })
    return [r.status, await r.json()]
  }
  let [st, body] = await bad(svcDid)
  ok(st === 400 && body.message === 'no service id specified in proxy header', 'header without #service: 400')
  ;[st, body] = await bad(`${svcDid}#nosuch`)
  ok(st === 400 && body.message === 'could not resolve proxy did service url', 'unknown service id: 400')
  ;[st, body] = await bad('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#bsky_fg')
  ok(st === 400 && body.message === 'could not resolve proxy did', 'unknown DID: 400')
  ;[st, body] = await bad(`${svcDid}#dead`)
  ok(st === 502 && body.error === 'UpstreamFailure', 'unreachable upstream: 502 UpstreamFailure')

  // ---- upstream errors ------------------------------------------------------

  res = await fetch(`${service}/xrpc/app.bsky.unspecced.getFail500`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  body = await res.json()
  ok(res.status === 502 && body.error === 'UpstreamFailure', 'upstream 500: 502 UpstreamFailure')
  res = await fetch(`${service}/xrpc/app.bsky.unspecced.getFail400`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  body = await res.json()
  ok(res.status === 400 && body.error === 'NotFound', 'upstream 400: passed through')

  // ---- preferences ----------------------------------------------------------

  const prefs = [
    { $type: 'app.bsky.actor.defs#adultContentPref', enabled: true },
    { $type: 'app.bsky.actor.defs#contentLabelPref', label: 'nsfw', visibility: 'warn' },
    { $type: 'app.bsky.actor.defs#savedFeedsPrefV2', items: [
      { type: 'timeline', value: 'following', pinned: true, id: '3kaaaaaaaaa22' },
    ] },
    { $type: 'app.bsky.actor.defs#personalDetailsPref', birthDate: '1990-04-01T00:00:00.000Z' },
    { $type: 'app.bsky.actor.defs#threadViewPref', sort: 'oldest' },
    { $type: 'app.bsky.actor.defs#mutedWordsPref', items: [
      { value: 'spoiler', targets: ['content', 'tag'], actorTarget: 'all' },
    ] },
  ]
  const put = await agent.app.bsky.actor.putPreferences({ preferences: prefs })
  ok(put.success, 'putPreferences with the app\'s preference types')
  const got = await agent.app.bsky.actor.getPreferences()
  const types = got.data.preferences.map((x) => x.$type)
  is(JSON.stringify(got.data.preferences.slice(0, prefs.length)), JSON.stringify(prefs),
     'getPreferences returns them as put, in order')
  is(types[prefs.length], 'app.bsky.actor.defs#declaredAgePref', '... plus a derived declaredAgePref')
  is(got.data.preferences[prefs.length]?.isOverAge18, true, '... over 18')
  const high = await agent.getPreferences()
  is(high.moderationPrefs.adultContentEnabled, true, 'agent.getPreferences(): adult content enabled')
  is(high.birthDate?.toISOString(), '1990-04-01T00:00:00.000Z', '... birthDate')
  is(high.threadViewPrefs.sort, 'oldest', '... thread view sort')
  is(high.moderationPrefs.mutedWords[0]?.value, 'spoiler', '... muted words')
  await agent.setAdultContentEnabled(false)
  is((await agent.getPreferences()).moderationPrefs.adultContentEnabled, false,
     'agent.setAdultContentEnabled(false) round-trips')
  is(appview.seen.filter((s) => s.nsid.includes('Preferences')).length, 0,
     'preferences never reach the AppView')

  const appPrefs = await appAgent.app.bsky.actor.getPreferences()
  const appTypes = appPrefs.data.preferences.map((x) => x.$type)
  ok(!appTypes.includes('app.bsky.actor.defs#personalDetailsPref'), 'app password: no personalDetailsPref')
  ok(appTypes.includes('app.bsky.actor.defs#declaredAgePref'), '... but the declaredAgePref')
  await rejects(appAgent.app.bsky.actor.putPreferences({ preferences: [prefs[3]] }),
                /Do not have authorization to set preferences: app\.bsky\.actor\.defs#personalDetailsPref/,
                'app password cannot set personalDetailsPref')
  await appAgent.app.bsky.actor.putPreferences({ preferences: [prefs[4]] })
  const after = (await agent.app.bsky.actor.getPreferences()).data.preferences.map((x) => x.$type)
  ok(after.includes('app.bsky.actor.defs#personalDetailsPref') && after.includes('app.bsky.actor.defs#threadViewPref')
     && !after.includes('app.bsky.actor.defs#adultContentPref'),
     'an app password\'s put replaces all but personalDetailsPref')
  await rejects(agent.app.bsky.actor.putPreferences({ preferences: [{ enabled: true }] }),
                /missing a \$type/, 'a preference without $type: refused')
  await rejects(agent.app.bsky.actor.putPreferences({ preferences: [{ $type: 'com.example.pref' }] }),
                /not in the app\.bsky namespace/, 'another namespace: refused')

  // ---- 50 MB streamed --------------------------------------------------------

  const pid = Number(process.env.WORKER_PID)
  const rssBefore = rss(pid)
  let rssMax = rssBefore
  const timer = setInterval(() => { rssMax = Math.max(rssMax, rss(pid)) }, 20)
  res = await fetch(`${service}/xrpc/app.bsky.unspecced.getBig`, {
    headers: { authorization: `Bearer ${agent.session.accessJwt}` },
  })
  is(res.headers.get('content-length'), String(BIG), '50 MB: content-length passed back')
  let total = 0
  let mismatch = -1
  for await (const chunk of res.body) {
    for (let i = 0; i < chunk.length; i += 4099) {
      if (mismatch < 0 && chunk[i] !== bigByte(total + i)) mismatch = total + i
    }
    total += chunk.length
    // a slowish reader now and then, so nginx has to hold back the upstream
    if ((total & (8 * 1024 * 1024 - 1)) < chunk.length) await sleep(50)
  }
  clearInterval(timer)
  const rssAfter = rss(pid)
  rssMax = Math.max(rssMax, rssAfter)
  is(total, BIG, '50 MB received whole')
  is(mismatch, -1, '... byte for byte')
  console.log(`# worker RSS: before ${rssBefore} kB, peak ${rssMax} kB, after ${rssAfter} kB`)
  ok(rssMax - rssBefore < 8 * 1024, 'worker memory stays flat (peak growth under 8 MB)')

  appview.server.close()
  second.server.close()
}

main()
  .catch((err) => {
    ok(false, `unexpected error: ${err?.stack ?? err}`)
  })
  .finally(done)
