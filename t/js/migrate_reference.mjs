// Account migration between our PDS and the reference PDS (@atproto/pds),
// both ways, with @atproto/api doing the client side the way the official
// procedure (and goat) does: getServiceAuth on the old PDS, createAccount
// with the DID on the new one, getRepo -> importRepo, listMissingBlobs +
// getBlob -> uploadBlob, getPreferences -> putPreferences,
// requestPlcOperationSignature on the old PDS (the token read from the mail
// its SMTP receiver got), getRecommendedDidCredentials on the new one,
// signPlcOperation on the old, submitPlcOperation on the new,
// activateAccount on the new, deactivateAccount on the old.  Then a fresh
// sign-in on the new PDS and the checks: records by CID, blobs by CID and
// bytes, preferences, the DID document at the PLC directory, the repo
// verified by @atproto/repo with the new PDS's key (before and after a new
// post), the old account deactivated.  Prints TAP.
//
// Environment: PLC_URL; OURS and REF, each JSON
// {url, admin, smtpDir, serviceDid, handleDomain}.
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { AtpAgent } from '@atproto/api'
import * as repo from '@atproto/repo'
import { ok, is, done, bail } from './tap.mjs'

const plcUrl = process.env.PLC_URL
const ours = { name: 'ours', ...JSON.parse(process.env.OURS) }
const ref = { name: 'reference', ...JSON.parse(process.env.REF) }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

// ---- small helpers -------------------------------------------------------

async function invite(srv) {
  const res = await fetch(`${srv.url}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Basic ' + Buffer.from(`admin:${srv.admin}`).toString('base64'),
    },
    body: JSON.stringify({ useCount: 1 }),
  })
  const body = await res.json()
  if (!body.code) throw new Error(`${srv.name}: createInviteCode ${res.status} ${JSON.stringify(body)}`)
  return body.code
}

// a small PNG of w x h pixels of one colour (a real image: the reference
// sniffs the type of what is uploaded)
function png(w, h, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(w).fill(rgb).flat())])
  const raw = Buffer.concat(Array(h).fill(row))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

// the .eml files a receiver has got, oldest first
function mailFiles(srv) {
  return fs.readdirSync(srv.smtpDir).filter((f) => f.endsWith('.eml')).sort()
}

// the XXXXX-XXXXX token of the newest mail to ADDRESS after the first SEEN
// mails (plain, quoted-printable or base64 parts), waited for up to 10 s
async function mailedToken(srv, address, seen) {
  for (let i = 0; i < 200; i++) {
    const files = mailFiles(srv).slice(seen)
    for (const f of files.reverse()) {
      const raw = fs.readFileSync(path.join(srv.smtpDir, f), 'latin1')
      if (!raw.toLowerCase().includes(address.toLowerCase())) continue
      const qp = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) =>
        String.fromCharCode(parseInt(h, 16)))
      let m = qp.match(/\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/)
      if (m) return m[1]
      for (const b64 of raw.match(/\r\n\r\n([A-Za-z0-9+/=\r\n]{40,})/g) || []) {
        m = Buffer.from(b64.trim(), 'base64').toString('utf8').match(/\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/)
        if (m) return m[1]
      }
    }
    await sleep(50)
  }
  return undefined
}

async function listAll(agent, did, collection) {
  const out = {}
  let cursor
  for (let i = 0; i < 100; i++) {
    const r = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
    for (const rec of r.data.records) out[rec.uri] = rec.cid
    cursor = r.data.cursor
    if (!cursor || r.data.records.length === 0) break
  }
  return out
}

// ---- the same refusals asked of both PDSes, for the side-by-side table:
// answers[server name][probe] = "status Error (message)"
const answers = { ours: {}, reference: {} }
const probes = []

async function probe(srv, label, fn) {
  let out
  try {
    const r = await fn()
    out = `200${r?.data?.error ? ' ' + r.data.error : ''}`
  } catch (e) {
    out = `${e.status ?? '?'} ${e.error ?? e.name ?? ''} (${e.message})`
  }
  answers[srv.name][label] = out
  if (!probes.includes(label)) probes.push(label)
  return out
}

async function serviceAuth(old, aud, lxm) {
  return (await old.com.atproto.server.getServiceAuth({ aud, lxm })).data.token
}

async function blobCids(agent, did) {
  const out = []
  let cursor
  for (let i = 0; i < 100; i++) {
    const r = await agent.com.atproto.sync.listBlobs({ did, limit: 500, cursor })
    out.push(...r.data.cids)
    cursor = r.data.cursor
    if (!cursor || r.data.cids.length === 0) break
  }
  return out.sort()
}

// probes where we answer otherwise on purpose
const DELIBERATE = {
  // never a 500 for bad input (the reference's CAR reader throws)
  'importRepo of bytes that are no CAR': 'a 400 InvalidRequest naming what is wrong, not a 500',
  // the issue: "importing into an active account does not silently roll
  // its repo back"; the reference replaces the repo
  'importRepo into the active account (its CAR from before the move)':
    'ours refuses (an active account is never rolled back; this old commit is not signed with the current key)',
  // the issue: the root commit must be the account's; the reference takes
  // any CAR (and the account's repo becomes another DID's records)
  "importRepo of another account's CAR": "ours refuses: the commit is another DID's",
}

const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow',
                     'app.bsky.actor.profile']

async function plcData(did) {
  const res = await fetch(`${plcUrl}/${did}/data`)
  return res.json()
}

// ---- an account with posts, an image, likes, follows, a profile with an
// avatar and preferences on FROM

async function populate(srv, name) {
  const agent = new AtpAgent({ service: srv.url })
  const handle = `${name}${srv.handleDomain}`
  const email = `${name}@example.com`
  const password = `${name}-password-1`
  await agent.createAccount({ email, handle, password, inviteCode: await invite(srv) })
  const did = agent.session.did
  ok(/^did:plc:/.test(did), `${srv.name}: ${handle} created (${did})`)

  const avatar = await agent.uploadBlob(png(4, 4, [200, 30, 30]), { encoding: 'image/png' })
  const image = await agent.uploadBlob(png(6, 3, [10, 90, 220]), { encoding: 'image/png' })
  await agent.com.atproto.repo.putRecord({
    repo: did, collection: 'app.bsky.actor.profile', rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: `${name} moving`,
              description: 'on the move', avatar: avatar.data.blob },
  })
  const posts = []
  for (let i = 1; i <= 4; i++) {
    posts.push(await agent.post({ text: `${name} post ${i}`, createdAt: new Date().toISOString() }))
  }
  posts.push(await agent.post({
    text: `${name} with a picture`, createdAt: new Date().toISOString(),
    embed: { $type: 'app.bsky.embed.images',
             images: [{ image: image.data.blob, alt: 'a blue rectangle',
                        aspectRatio: { width: 6, height: 3 } }] },
  }))
  for (const p of posts.slice(0, 3)) await agent.like(p.uri, p.cid)
  await agent.follow('did:plc:ewvi7nxzyoun6zhxrhs64oiz')
  await agent.follow('did:plc:z72i7hdynmk6r22z27h6tvur')
  const prefs = [
    { $type: 'app.bsky.actor.defs#adultContentPref', enabled: false },
    { $type: 'app.bsky.actor.defs#contentLabelPref', label: 'nsfw', visibility: 'warn' },
    { $type: 'app.bsky.actor.defs#savedFeedsPrefV2',
      items: [{ id: '3kabcdefghij2', type: 'timeline', value: 'following', pinned: true }] },
  ]
  await agent.app.bsky.actor.putPreferences({ preferences: prefs })
  ok(true, `${srv.name}: ${handle} has 5 posts (one with an image), 3 likes, 2 follows, a profile with an avatar, preferences`)
  return { agent, did, handle, email, password, blobs: [avatar.data.blob.ref.toString(), image.data.blob.ref.toString()] }
}

// ---- the migration, step by step as a client does it

async function migrate(from, to, acct, newName) {
  const tag = `${from.name} -> ${to.name}`
  const old = acct.agent
  const did = acct.did

  // what the old PDS holds, for the checks afterwards
  const before = {}
  for (const c of COLLECTIONS) before[c] = await listAll(old, did, c)
  const blobsBefore = await blobCids(old, did)
  const prefsBefore = (await old.app.bsky.actor.getPreferences()).data.preferences
  ok(Object.keys(before['app.bsky.feed.post']).length === 5 && blobsBefore.length === 2,
     `${tag}: the old PDS lists 5 posts and 2 blobs`)

  const sa = await old.com.atproto.server.getServiceAuth({
    aud: to.serviceDid, lxm: 'com.atproto.server.createAccount',
  })
  ok(typeof sa.data.token === 'string', `${tag}: getServiceAuth on the old PDS (aud ${to.serviceDid})`)

  const fresh = new AtpAgent({ service: to.url })
  const handle = `${newName}${to.handleDomain}`
  const password = `${newName}-new-password`
  const email = `${newName}@example.com`
  const attempt = async (token, o = {}) => fresh.com.atproto.server.createAccount(
    { did, handle, email, password, inviteCode: await invite(to), ...o },
    token ? { headers: { authorization: `Bearer ${token}` } } : {})
  await probe(to, 'createAccount with a DID, no service auth', () => attempt())
  await probe(to, 'createAccount, service auth for another audience', async () =>
    attempt(await serviceAuth(old, 'did:web:elsewhere.example', 'com.atproto.server.createAccount')))
  await probe(to, 'createAccount, service auth for another method', async () =>
    attempt(await serviceAuth(old, to.serviceDid, 'com.atproto.repo.createRecord')))
  await probe(to, 'createAccount, service auth of the DID for another DID', async () =>
    attempt(await serviceAuth(old, to.serviceDid, 'com.atproto.server.createAccount'),
            { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }))
  await probe(to, 'createAccount, a forged service-auth signature', async () => {
    const [h, p, sig] = (await serviceAuth(old, to.serviceDid, 'com.atproto.server.createAccount')).split('.')
    return attempt([h, p, Buffer.from(sig, 'base64url').reverse().toString('base64url')].join('.'))
  })
  const created = await fresh.com.atproto.server.createAccount(
    { did, handle, email, password, inviteCode: await invite(to) },
    { headers: { authorization: `Bearer ${sa.data.token}` } })
  is(created.data.did, did, `${tag}: createAccount on the new PDS with the DID and the service auth`)

  const agent = new AtpAgent({ service: to.url })
  await agent.login({ identifier: handle, password })
  is(agent.session?.did, did, `${tag}: signed in on the new PDS (deactivated account)`)
  await probe(to, 'createAccount again with the same DID', async () =>
    attempt(await serviceAuth(old, to.serviceDid, 'com.atproto.server.createAccount'),
            { handle: `${newName}x${to.handleDomain}`, email: `${newName}x@example.com` }))
  await probe(to, 'createRecord before activation', () => agent.post({ text: 'too early' }))
  await probe(to, 'getLatestCommit before activation', () => agent.com.atproto.sync.getLatestCommit({ did }))
  await probe(to, 'importRepo of bytes that are no CAR', () =>
    agent.com.atproto.repo.importRepo(Buffer.from('not a car at all'), { encoding: 'application/vnd.ipld.car' }))
  await probe(to, 'importRepo of 5 MB + 1 kB (over the default limit)', () =>
    agent.com.atproto.repo.importRepo(Buffer.alloc(5 * 1024 * 1024 + 1024, 1), { encoding: 'application/vnd.ipld.car' }))
  await probe(to, 'importRepo without a session', () =>
    fresh.com.atproto.repo.importRepo(Buffer.from('x'), { encoding: 'application/vnd.ipld.car' }))
  let st = (await agent.com.atproto.server.checkAccountStatus()).data
  ok(st.activated === false && st.validDid === false,
     `${tag}: checkAccountStatus: deactivated, DID not yet pointing here`, JSON.stringify(st))

  const car = await old.com.atproto.sync.getRepo({ did })
  const t0 = Date.now()
  await agent.com.atproto.repo.importRepo(car.data, { encoding: 'application/vnd.ipld.car' })
  ok(true, `${tag}: importRepo (${car.data.length} bytes, ${Date.now() - t0} ms)`)

  let missing = []
  let cursor
  for (let i = 0; i < 100; i++) {
    const r = await agent.com.atproto.repo.listMissingBlobs({ limit: 500, cursor })
    missing.push(...r.data.blobs.map((b) => b.cid))
    cursor = r.data.cursor
    if (!cursor || r.data.blobs.length === 0) break
  }
  ok(same(missing.sort(), blobsBefore), `${tag}: listMissingBlobs names both blobs`, JSON.stringify(missing))
  for (const cid of missing) {
    const b = await old.com.atproto.sync.getBlob({ did, cid })
    await agent.com.atproto.repo.uploadBlob(b.data, { encoding: b.headers['content-type'] })
  }
  const still = (await agent.com.atproto.repo.listMissingBlobs({})).data.blobs
  is(still.length, 0, `${tag}: none missing after uploadBlob`)

  await agent.app.bsky.actor.putPreferences({ preferences: prefsBefore })
  ok(true, `${tag}: putPreferences on the new PDS`)

  st = (await agent.com.atproto.server.checkAccountStatus()).data
  await probe(to, 'checkAccountStatus: its fields', async () => ({ data: { error: Object.keys(st).sort().join(',') } }))
  ok(st.indexedRecords === 11 && st.expectedBlobs === 2 && st.importedBlobs === 2,
     `${tag}: checkAccountStatus: 11 records, 2 blobs expected and imported`, JSON.stringify(st))
  const head = (await old.com.atproto.sync.getLatestCommit({ did })).data
  // (the reference's repoRev after an import is a rev of its own making, not
  // the imported commit's; ours is the commit's)
  ok(st.repoCommit === head.cid && (to !== ours || st.repoRev === head.rev),
     `${tag}: ... and the old PDS's commit${to === ours ? ' and rev' : ''}`, JSON.stringify([st, head]))

  const seen = mailFiles(from).length
  await old.com.atproto.identity.requestPlcOperationSignature()
  const token = await mailedToken(from, acct.email, seen)
  ok(token, `${tag}: requestPlcOperationSignature: the old PDS mailed a token (${token})`)
  const creds = (await agent.com.atproto.identity.getRecommendedDidCredentials()).data
  await probe(to, 'getRecommendedDidCredentials: its fields', async () => ({ data: { error:
    Object.keys(creds).sort().join(',') + ' / ' + Object.keys(creds.services).join(',') } }))
  ok(creds.services?.atproto_pds?.endpoint === to.url, `${tag}: recommended credentials name the new PDS`,
     JSON.stringify(creds))
  await probe(from, 'signPlcOperation without a token', () =>
    old.com.atproto.identity.signPlcOperation({ ...creds }))
  await probe(from, 'signPlcOperation with a wrong token', () =>
    old.com.atproto.identity.signPlcOperation({ token: 'AAAAA-BBBBB', ...creds }))
  const signed = await old.com.atproto.identity.signPlcOperation({ token, ...creds })
  ok(signed.data.operation?.sig, `${tag}: signPlcOperation on the old PDS with the token`)
  await probe(from, 'signPlcOperation with a used token', () =>
    old.com.atproto.identity.signPlcOperation({ token, ...creds }))
  const dataBefore = await plcData(did)
  const bad = {
    'another endpoint': (op) => { op.services.atproto_pds.endpoint = 'https://evil.example' },
    'another signing key': (op) => { op.verificationMethods.atproto = 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' },
    'without the new rotation key': (op) => { op.rotationKeys = op.rotationKeys.filter((k) => !creds.rotationKeys.includes(k)) },
    'another handle': (op) => { op.alsoKnownAs = ['at://mallory.test'] },
    'no signature': (op) => { delete op.sig },
    'a broken signature': (op) => { op.sig = 'AAAA' + op.sig.slice(4) },
  }
  for (const [name, change] of Object.entries(bad)) {
    const op = structuredClone(signed.data.operation)
    change(op)
    await probe(to, `submitPlcOperation with ${name}`, () =>
      agent.com.atproto.identity.submitPlcOperation({ operation: op }))
  }
  ok(same(await plcData(did), dataBefore), `${tag}: the DID document is unchanged after the refusals`)
  await probe(to, 'activateAccount before the DID names the new PDS', () =>
    agent.com.atproto.server.activateAccount())
  await agent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })
  const data = await plcData(did)
  ok(data.services?.atproto_pds?.endpoint === to.url &&
     data.verificationMethods?.atproto === creds.verificationMethods.atproto &&
     same(data.alsoKnownAs, [`at://${handle}`]) &&
     data.rotationKeys.includes(creds.rotationKeys.at(-1)),
     `${tag}: submitPlcOperation: the PLC directory names the new PDS, its key, the new handle`,
     JSON.stringify(data))

  await agent.com.atproto.server.activateAccount()
  st = (await agent.com.atproto.server.checkAccountStatus()).data
  ok(st.activated === true && st.validDid === true, `${tag}: activateAccount: activated, DID valid`,
     JSON.stringify(st))
  await old.com.atproto.server.deactivateAccount({})
  const ost = (await old.com.atproto.server.checkAccountStatus()).data
  ok(ost.activated === false, `${tag}: deactivateAccount: the old account is deactivated`, JSON.stringify(ost))
  await probe(from, 'listRecords of the deactivated old account', () =>
    new AtpAgent({ service: from.url }).com.atproto.repo.listRecords({
      repo: did, collection: 'app.bsky.feed.post' }))
  await probe(from, 'getLatestCommit of the deactivated old account', () =>
    new AtpAgent({ service: from.url }).com.atproto.sync.getLatestCommit({ did }))
  await probe(from, 'getRepo of the deactivated old account', () =>
    new AtpAgent({ service: from.url }).com.atproto.sync.getRepo({ did }))
  await probe(from, 'createSession on the deactivated old account', () =>
    new AtpAgent({ service: from.url }).login({ identifier: did, password: acct.password }))
  await probe(from, 'createRecord on the deactivated old account', () => old.post({ text: 'after' }))

  // a fresh sign-in and what it reads
  const reader = new AtpAgent({ service: to.url })
  await reader.login({ identifier: handle, password })
  is(reader.session?.did, did, `${tag}: a fresh sign-in on the new PDS`)
  for (const c of COLLECTIONS) {
    const after = await listAll(reader, did, c)
    ok(same(after, before[c]) && Object.keys(after).length > 0,
       `${tag}: ${c}: the same ${Object.keys(after).length} records, by CID`,
       JSON.stringify({ after, before: before[c] }))
  }
  is((await blobCids(reader, did)).join(' '), blobsBefore.join(' '), `${tag}: listBlobs: the same blobs`)
  for (const cid of blobsBefore) {
    const a = await reader.com.atproto.sync.getBlob({ did, cid })
    const o = await old.com.atproto.sync.getBlob({ did, cid }).catch(() => null)
    ok(o === null ? a.data.length > 0 : Buffer.compare(Buffer.from(a.data), Buffer.from(o.data)) === 0,
       `${tag}: getBlob ${cid.slice(0, 16)}...: the same bytes`)
  }
  const prefsAfter = (await reader.app.bsky.actor.getPreferences()).data.preferences
  ok(same(prefsAfter, prefsBefore), `${tag}: the same preferences`,
     JSON.stringify({ prefsAfter, prefsBefore }))
  const prof = (await reader.com.atproto.repo.getRecord({
    repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })).data
  is(prof.value.avatar?.ref?.toString(), acct.blobs[0], `${tag}: the profile's avatar is the same blob`)

  const newKey = creds.verificationMethods.atproto
  let carNew = (await reader.com.atproto.sync.getRepo({ did })).data
  let v = await repo.verifyRepoCar(carNew, did, newKey).catch((e) => e)
  ok(v instanceof Error, `${tag}: the imported repo is still signed by the old key (not the new one)`)
  await reader.post({ text: `${newName} settled in`, createdAt: new Date().toISOString() })
  carNew = (await reader.com.atproto.sync.getRepo({ did })).data
  v = await repo.verifyRepoCar(carNew, did, newKey).catch((e) => e)
  ok(!(v instanceof Error) && v.creates.length === 12,
     `${tag}: after a new post, @atproto/repo verifies the repo (12 records) with the new PDS's key`,
     v instanceof Error ? v.message : v.creates.length)
  await probe(to, 'importRepo into the active account (its CAR from before the move)', () =>
    reader.com.atproto.repo.importRepo(car.data, { encoding: 'application/vnd.ipld.car' }))
  const other = new AtpAgent({ service: from.url })
  await other.createAccount({ email: `${newName}-other@example.com`, handle: `${newName}-other${from.handleDomain}`,
                              password: 'other-password-1', inviteCode: await invite(from) })
  await other.post({ text: 'someone else' })
  const otherCar = (await other.com.atproto.sync.getRepo({ did: other.session.did })).data
  await probe(to, "importRepo of another account's CAR", () =>
    reader.com.atproto.repo.importRepo(otherCar, { encoding: 'application/vnd.ipld.car' }))
  await probe(from, 'requestPlcOperationSignature without a session', () =>
    new AtpAgent({ service: from.url }).com.atproto.identity.requestPlcOperationSignature())
  return { agent: reader, did, handle, email, password, blobs: acct.blobs }
}

async function main() {
  // in: an account on the reference comes to us
  const carol = await populate(ref, 'carol')
  await migrate(ref, ours, carol, 'carol')
  // out: an account on ours goes to the reference
  const dana = await populate(ours, 'dana')
  await migrate(ours, ref, dana, 'dana2')

  // the table (printed under prove -v): what each PDS answered to the same
  // request, ours then the reference's; a row differs
  // only where the difference is deliberate (the reason given)
  const short = (a) => (a ?? '-').replace(/ \(.*\)$/s, '')
  for (const label of probes) {
    const o = answers.ours[label]
    const r = answers.reference[label]
    const why = DELIBERATE[label]
    if (process.env.HARNESS_IS_VERBOSE || process.env.TEST_VERBOSE) {
      console.log(`# | ${label} | ${o} | ${r} |${why ? ' deliberate: ' + why : ''}`)
    }
    if (why) ok(short(o) !== short(r), `ours and the reference differ, deliberately: ${label}`, `${o} / ${r}`)
    else is(short(o), short(r), `the same answer as the reference: ${label}`)
  }
  done()
}

main().catch(bail)
