// The AppView proxy against the ecosystem's own code: stand-in services on
// loopback verify every incoming service JWT with @atproto/xrpc-server's
// verifyJwt (the issuer's key resolved through the same local PLC
// directory with @atproto/identity), @atproto/api talks to our PDS only.
// Also preferences, getServiceAuth, the atproto-proxy header (a did:plc
// registered here with service entries), upstream failures, and a 50 MB
// response streamed with the nginx worker's memory watched.  Prints TAP.
//
// Environment: PDS_URL, PLC_URL, PDS_ADMIN, APPVIEW_PORT, APPVIEW_DID,
// SVC_PORT, DEAD_PORT, WORKER_PID.
import http from 'node:http'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { AtpAgent } from '@atproto/api'
import { verifyJwt, createServiceJwt } from '@atproto/xrpc-server'
import { IdResolver } from '@atproto/identity'
import { Secp256k1Keypair } from '@atproto/crypto'
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

const idResolver = new IdResolver({ plcUrl })
const getSigningKey = (iss, force) => idResolver.did.resolveAtprotoKey(iss, force)

// A stand-in XRPC service: every call must carry a service JWT for ownDid
// and the called method, or it gets 401.
function standIn(port, ownDid, handlers) {
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
      rec.payload = await verifyJwt(token, ownDid, nsid, getSigningKey)
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
    },
    prev: null,
  }, svcKey)
  const svcDid = await plc.didForCreateOp(op)
  await new plc.Client(plcUrl).sendOperation(svcDid, op)

  const second = await standIn(svcPort, svcDid, {
    'app.bsky.feed.getFeedSkeleton': (req, res, rec) =>
      json(res, 200, { feed: [{ post: `at://${aliceDid}/app.bsky.feed.post/3kabcdefghi22` }],
                       cursor: rec.url.searchParams.get('feed') }),
    'chat.bsky.convo.sendMessage': (req, res, rec) => {
      const body = JSON.parse(rec.body)
      json(res, 200, {
        id: 'm1', rev: '1', text: body.message.text,
        sender: { did: aliceDid }, sentAt: '2024-01-01T00:00:00.000Z',
      })
    },
  })

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
