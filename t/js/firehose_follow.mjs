// A real consumer follows our subscribeRepos: @atproto/sync's Firehose
// (commit proofs verified against the signing key from the PLC directory,
// handles verified) and a raw client that keeps every frame, while
// accounts are created, a handle changes and records are created, updated
// and deleted.  Every #commit is checked with @atproto/repo (signature,
// ops against the MST, inversion of the ops back to prevData), every
// #sync's commit signature too.  A third client disconnects midway and
// reconnects with its last cursor: it must get exactly the missed events.
// Prints TAP.  Environment: PDS_URL, PLC_URL, PDS_ADMIN.
import {
  require, ok, is, done, deadline, sleep, xrpc, newAccount, didKeyOf,
  RawSub, consecutive,
} from './sync_lib.mjs'

const repo = require('@atproto/repo')
const { Firehose } = require('@atproto/sync')
const { IdResolver } = require('@atproto/identity')

const base = process.env.PDS_URL
const plc = process.env.PLC_URL
const admin = process.env.PDS_ADMIN

deadline(120000)

const post = (text) => ({
  $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString(),
})

async function write(nsid, token, body) {
  const res = await xrpc(base, nsid, { method: 'POST', token, body })
  if (res.status !== 200) throw new Error(`${nsid}: ${res.status} ${JSON.stringify(res.json)}`)
  return res.json
}

// checks one #commit event with @atproto/repo; returns an error string or null
async function checkCommit(evt, keys) {
  const key = keys.get(evt.repo)
  const { root, blocks } = await repo.readCarWithRoot(evt.blocks)
  if (!root.equals(evt.commit)) return 'CAR root is not the commit'
  const storage = new repo.MemoryBlockstore(blocks)
  const commit = await storage.readObj(root, repo.def.commit)
  if (commit.did !== evt.repo || commit.rev !== evt.rev) return 'commit did/rev'
  if (!(await repo.verifyCommitSig(commit, key))) return 'signature'
  if (evt.rebase !== false || evt.tooBig !== false || evt.blobs.length !== 0) return 'deprecated fields'
  if (evt.ops.length === 0) return null     // the empty first commit
  let mst = repo.MST.load(storage, commit.data)
  for (const op of evt.ops) {
    const got = await mst.get(op.path)
    if (op.action === 'delete' ? got !== null : !(got && got.equals(op.cid))) return `op ${op.path}`
  }
  for (const op of [...evt.ops].reverse()) {
    if (op.action === 'create') mst = await mst.delete(op.path)
    else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
    else mst = await mst.add(op.path, op.prev)
  }
  const inverted = await mst.getPointer()
  if (!inverted.equals(evt.prevData)) return 'inversion to prevData'
  return null
}

async function main() {
  // the verified consumer, from the start of the (empty) stream
  const idResolver = new IdResolver({ plcUrl: plc })
  idResolver.handle.resolve = async (handle) => {
    const res = await xrpc(base, 'com.atproto.identity.resolveHandle', { params: { handle } })
    return res.json?.did
  }
  const handled = []
  const errors = []
  let fhCursor = 0
  const firehose = new Firehose({
    idResolver,
    service: base.replace(/^http/, 'ws'),
    // (this version of the library takes the cursor value, not a function)
    get getCursor() { return fhCursor },
    unauthenticatedCommits: false,
    unauthenticatedHandles: false,
    handleEvent: async (evt) => { handled.push(evt); fhCursor = Math.max(fhCursor, evt.seq) },
    onError: (err) => errors.push(err),
  })
  firehose.start()

  const all = new RawSub(base, { cursor: 0 })
  const live = new RawSub(base)                 // no cursor: live only
  const mid = new RawSub(base, { cursor: 0 })
  await Promise.all([all.opened, live.opened, mid.opened])
  ok(true, 'three WebSocket subscribers connected')
  await sleep(300)    // the Firehose connects too

  const keys = new Map()
  const alice = await newAccount(base, admin, 'alice.test')
  const bob = await newAccount(base, admin, 'bob.test')
  keys.set(alice.did, await didKeyOf(plc, alice.did))
  keys.set(bob.did, await didKeyOf(plc, bob.did))

  const r1 = await write('com.atproto.repo.createRecord', alice.accessJwt,
    { repo: alice.did, collection: 'app.bsky.feed.post', record: post('one') })
  const r2 = await write('com.atproto.repo.createRecord', alice.accessJwt,
    { repo: alice.did, collection: 'app.bsky.feed.post', record: post('two') })

  // the third client stops here and comes back later
  await mid.waitFor((s) => s.events.length >= 10)
  const midSeen = mid.seqs
  mid.close()
  await mid.waitClosed()
  ok(midSeen.length >= 10 && consecutive(midSeen, 1), `the third client got seq 1..${midSeen.length} before leaving`)

  await write('com.atproto.identity.updateHandle', alice.accessJwt, { handle: 'alice2.test' })
  const rkey2 = r2.uri.split('/').pop()
  await write('com.atproto.repo.putRecord', alice.accessJwt,
    { repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkey2, record: post('two, edited') })
  const rkey1 = r1.uri.split('/').pop()
  await write('com.atproto.repo.deleteRecord', alice.accessJwt,
    { repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkey1 })
  await write('com.atproto.repo.applyWrites', bob.accessJwt, {
    repo: bob.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a', value: post('b1') },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2b', value: post('b2') },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', rkey: '3jzfcijpj2z2c',
        value: { $type: 'app.bsky.feed.like', subject: { uri: r2.uri, cid: r2.cid }, createdAt: new Date().toISOString() } },
    ],
  })
  await write('com.atproto.repo.applyWrites', bob.accessJwt, {
    repo: bob.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a', value: post('b1 edited') },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2b' },
    ],
  })

  // 4 + 4 events per account, 2 creates, identity, put, delete, 2 batches
  const total = 8 + 2 + 1 + 1 + 1 + 2
  const got = await all.waitFor((s) => s.events.length >= total)
  ok(got, `the raw subscriber got all ${total} events`, all.seqs)
  const evs = all.events
  ok(consecutive(all.seqs, 1) && evs.length === total, 'seq 1..N in order, no gap, no duplicate', all.seqs)
  is(evs.map((e) => e.t).join(' '),
    '#identity #account #commit #sync #identity #account #commit #sync '
    + '#commit #commit #identity #commit #commit #commit #commit',
    'event types in order')
  ok(all.frames.every((f) => f.header.op === 1), 'every frame is a message frame {op: 1}')
  is(evs[10].handle, 'alice2.test', '#identity carries the new handle')
  ok(evs[1].active === true && evs[1].status === undefined, '#account active, no status')
  ok(evs.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time)), 'every event has a time')

  // every commit and sync verified with @atproto/repo
  const bad = []
  for (const e of evs) {
    if (e.t === '#commit') {
      const err = await checkCommit(e, keys)
      if (err) bad.push(`seq ${e.seq}: ${err}`)
    } else if (e.t === '#sync') {
      const { root, blocks } = await repo.readCarWithRoot(e.blocks)
      const commit = await new repo.MemoryBlockstore(blocks).readObj(root, repo.def.commit)
      if (commit.rev !== e.rev || !(await repo.verifyCommitSig(commit, keys.get(e.did)))) {
        bad.push(`seq ${e.seq}: #sync commit`)
      }
    }
  }
  ok(bad.length === 0, 'every #commit verifies (signature, ops, inversion to prevData) and every #sync commit signature', bad)
  const ops = evs.filter((e) => e.t === '#commit').flatMap((e) => e.ops.map((o) => o.action))
  is(ops.join(','), 'create,create,update,delete,create,create,create,update,delete', 'ops: creates, updates, deletes')

  // live only: nothing from before it connected, everything after (it may
  // sit in the other worker, which delivers on its own poll a little later)
  await live.waitFor((s) => s.events.length >= total)
  ok(consecutive(live.seqs, 1) && live.seqs.length === total,
    'the client without a cursor got every event written after it connected', live.seqs)

  // reconnect with the last cursor: exactly the missed events
  const last = midSeen[midSeen.length - 1]
  const again = new RawSub(base, { cursor: last })
  await again.opened
  await again.waitFor((s) => s.events.length >= total - last)
  await sleep(200)
  ok(consecutive(again.seqs, last + 1) && again.seqs.length === total - last,
    `reconnecting with cursor ${last} replays exactly seq ${last + 1}..${total}`, again.seqs)
  const same = again.frames.every((f, i) =>
    Buffer.from(require('@atproto/lex-cbor').encode(f.body)).equals(
      Buffer.from(require('@atproto/lex-cbor').encode(all.frames[last + i].body))))
  ok(same, 'replayed frames are the same events as the live ones')

  // one more event reaches the reconnected client live
  await write('com.atproto.repo.createRecord', bob.accessJwt,
    { repo: bob.did, collection: 'app.bsky.feed.post', record: post('after') })
  ok(await again.waitFor((s) => s.seqs.at(-1) === total + 1), 'then it continues live')

  // the verified consumer
  await sleep(500)
  const kinds = {}
  for (const h of handled) kinds[h.event] = (kinds[h.event] || 0) + 1
  is(JSON.stringify(kinds), JSON.stringify({ identity: 3, account: 2, sync: 2, create: 6, update: 2, delete: 2 }),
    '@atproto/sync Firehose: every event parsed and verified')
  ok(errors.length === 0, 'Firehose reported no error', errors.map((e) => `${e.message}: ${e.cause?.message}`))
  const hseq = handled.map((h) => h.seq)
  ok(hseq.every((s, i) => i === 0 || s >= hseq[i - 1]), 'Firehose events in seq order')
  const ident = handled.filter((h) => h.event === 'identity')
  is(ident.at(-1).handle, 'alice2.test', 'Firehose verified the new handle (DID document + resolveHandle)')
  const created = handled.filter((h) => h.event === 'create').map((h) => h.record.text).filter(Boolean)
  ok(created.includes('one') && created.includes('b2'), 'Firehose decoded the records')

  await firehose.destroy()
  for (const s of [all, live, again]) s.close()
  await Promise.all([all, live, again].map((s) => s.waitClosed()))
  ok([all, live, again].every((s) => s.closed.code === 1000), 'clean close handshake (1000)')
}

try {
  await main()
} catch (e) {
  ok(false, 'no exception', e.stack)
}
done()
