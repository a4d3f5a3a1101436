// com.atproto.sync.* reads checked with @atproto/repo: getRepo (full, and
// `since` a rev applied to the older state with verifyDiffCar), getCheckout,
// getRecord proofs of presence and absence (verifyProofs), getBlocks,
// getLatestCommit, getHead, getRepoStatus, listRepos pagination, listBlobs,
// and the reference's errors.  The repo has over 1,000 records, so getRepo
// streams many 64 KB rounds.  Prints TAP.
// Environment: PDS_URL, PLC_URL, PDS_ADMIN.
import {
  require, ok, is, done, deadline, xrpc, newAccount, didKeyOf,
} from './sync_lib.mjs'

const repo = require('@atproto/repo')

const base = process.env.PDS_URL
const plc = process.env.PLC_URL
const admin = process.env.PDS_ADMIN

deadline(120000)

const CAR = 'application/vnd.ipld.car'
const post = (text) => ({ $type: 'com.example.note', text, createdAt: new Date().toISOString() })

async function applyWrites(acc, writes) {
  const res = await xrpc(base, 'com.atproto.repo.applyWrites', {
    method: 'POST', token: acc.accessJwt, body: { repo: acc.did, writes },
  })
  if (res.status !== 200) throw new Error(`applyWrites: ${res.status} ${JSON.stringify(res.json)}`)
  return res.json
}

async function getRepo(did, since) {
  const res = await xrpc(base, 'com.atproto.sync.getRepo', {
    params: since ? { did, since } : { did }, raw: true,
  })
  if (res.status !== 200) throw new Error(`getRepo: ${res.status}`)
  return res
}

async function main() {
  const alice = await newAccount(base, admin, 'alice.test')
  const bob = await newAccount(base, admin, 'bob.test')
  const key = await didKeyOf(plc, alice.did)
  const expected = new Map()      // path -> CID string

  // 1,100 records in 2 collections
  for (let b = 0; b < 11; b++) {
    const writes = []
    for (let i = 0; i < 100; i++) {
      const n = b * 100 + i
      const collection = n % 3 ? 'com.example.note' : 'com.example.tag'
      const value = collection === 'com.example.note' ? post(`post ${n} ` + 'y'.repeat(n % 200))
        : { $type: 'com.example.tag', createdAt: new Date().toISOString(),
          subject: { uri: `at://${bob.did}/com.example.note/r${n}`,
            cid: { $link: 'bafyreibdgqvcyhcbbxrnfdhbsc7hbpl7h6lpzgekchftaiob5ljqhfoxrm' } } }
      writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection, rkey: `r${String(n).padStart(5, '0')}`, value })
    }
    const res = await applyWrites(alice, writes)
    for (const r of res.results) expected.set(r.uri.split('/').slice(3).join('/'), r.cid)
  }
  const older = new Map(expected)

  const lc1 = await xrpc(base, 'com.atproto.sync.getLatestCommit', { params: { did: alice.did } })
  is(lc1.status, 200, 'getLatestCommit')
  ok(/^bafyrei/.test(lc1.json.cid) && /^[a-z2-7]{13}$/.test(lc1.json.rev), '... {cid, rev}')
  const rev1 = lc1.json.rev

  const full1 = await getRepo(alice.did)
  is(full1.headers.get('content-type'), CAR, 'getRepo: Content-Type application/vnd.ipld.car')
  ok(full1.headers.get('transfer-encoding') === 'chunked' && !full1.headers.get('content-length'),
    `getRepo is streamed (chunked, ${full1.bytes.length} bytes)`)
  ok(full1.bytes.length > 4 * 65536, '... over several 64 KB rounds')

  // then updates, deletes and creates
  const writes = []
  for (let n = 0; n < 60; n++) {
    const rkey = `r${String(n * 7).padStart(5, '0')}`
    const collection = (n * 7) % 3 ? 'com.example.note' : 'com.example.tag'
    if (n % 2 && collection === 'com.example.note') {
      writes.push({ $type: 'com.atproto.repo.applyWrites#update', collection, rkey, value: post(`edited ${n}`) })
    } else {
      writes.push({ $type: 'com.atproto.repo.applyWrites#delete', collection, rkey })
      expected.delete(`${collection}/${rkey}`)
    }
  }
  for (let n = 0; n < 20; n++) {
    writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.note', rkey: `z${n}`, value: post(`new ${n}`) })
  }
  const res2 = await applyWrites(alice, writes)
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]
    if (!w.$type.endsWith('#delete')) expected.set(`${w.collection}/${w.rkey}`, res2.results[i].cid)
  }

  const lc2 = await xrpc(base, 'com.atproto.sync.getLatestCommit', { params: { did: alice.did } })
  const full2 = await getRepo(alice.did)
  const verified = await repo.verifyRepoCar(full2.bytes, alice.did, key)
  is(verified.commit.cid.toString(), lc2.json.cid, 'getRepo: verifyRepoCar, root = getLatestCommit cid')
  is(verified.commit.rev, lc2.json.rev, '... rev')
  const found = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  ok(found.size === expected.size && [...expected].every(([k, v]) => found.get(k) === v),
    `... exactly the ${expected.size} records written (after updates and deletes)`)

  // since: applied to the older state it gives the new one
  const diff = await getRepo(alice.did, rev1)
  ok(diff.bytes.length < full2.bytes.length / 4, `getRepo since=rev: a small diff (${diff.bytes.length} bytes)`)
  const { root: r1, blocks: b1 } = await repo.readCarWithRoot(full1.bytes)
  const repo1 = await repo.Repo.load(new repo.MemoryBlockstore(b1), r1)
  ok((await repo1.data.list()).length === older.size, 'the older CAR has the older records')
  const vd = await repo.verifyDiffCar(repo1, diff.bytes, alice.did, key)
  is(vd.commit.cid.toString(), lc2.json.cid, 'verifyDiffCar(older repo, since CAR): the new commit')
  const creates = vd.writes.filter((w) => w.action === 'create').length
  const updates = vd.writes.filter((w) => w.action === 'update').length
  const deletes = vd.writes.filter((w) => w.action === 'delete').length
  ok(creates === 20 && deletes === writes.filter((w) => w.$type.endsWith('#delete')).length && updates > 0,
    `... the diff: ${creates} creates, ${updates} updates, ${deletes} deletes`)

  const checkout = await xrpc(base, 'com.atproto.sync.getCheckout', { params: { did: alice.did }, raw: true })
  ok(checkout.status === 200 && Buffer.from(checkout.bytes).equals(Buffer.from(full2.bytes)),
    'getCheckout: the same CAR as getRepo')

  // proofs
  const [path1, cid1] = [...expected][5]
  const [col1, rk1] = path1.split('/')
  const proof = await xrpc(base, 'com.atproto.sync.getRecord', {
    params: { did: alice.did, collection: col1, rkey: rk1 }, raw: true,
  })
  is(proof.headers.get('content-type'), CAR, 'getRecord: a CAR')
  const present = await repo.verifyProofs(proof.bytes, [{ collection: col1, rkey: rk1, cid: require('multiformats/cid').CID.parse(cid1) }], alice.did, key)
  ok(present.verified.length === 1 && present.unverified.length === 0, 'getRecord: verifyProofs proves the record is present')
  const deleted = writes.find((w) => w.$type.endsWith('#delete'))
  for (const [collection, rkey, what] of [[deleted.collection, deleted.rkey, 'a deleted record'],
    ['com.example.note', 'nothere', 'a record that never existed']]) {
    const p = await xrpc(base, 'com.atproto.sync.getRecord', { params: { did: alice.did, collection, rkey }, raw: true })
    const res = await repo.verifyProofs(p.bytes, [{ collection, rkey, cid: null }], alice.did, key)
    ok(p.status === 200 && res.verified.length === 1, `getRecord: proof of absence of ${what}`)
  }

  // getBlocks
  const gb = await xrpc(base, 'com.atproto.sync.getBlocks', {
    params: { did: alice.did, cids: [lc2.json.cid, cid1] }, raw: true,
  })
  is(gb.status, 200, 'getBlocks')
  const gbCar = await repo.readCar(gb.bytes)
  ok(gbCar.roots.length === 0 && gbCar.blocks.size === 2 && gbCar.blocks.has(verified.commit.cid),
    '... a CAR without roots holding both blocks')
  const missing = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
  const gbm = await xrpc(base, 'com.atproto.sync.getBlocks', { params: { did: alice.did, cids: [cid1, missing] } })
  is(gbm.status, 400, 'getBlocks with a missing CID: 400')
  is(gbm.json?.error, 'InvalidRequest', '... InvalidRequest')
  is(gbm.json?.message, `Could not find cids: ${missing}`, '... naming it (the reference message)')

  // heads and status
  const head = await xrpc(base, 'com.atproto.sync.getHead', { params: { did: alice.did } })
  is(head.json?.root, lc2.json.cid, 'getHead: {root}')
  const st = await xrpc(base, 'com.atproto.sync.getRepoStatus', { params: { did: alice.did } })
  is(JSON.stringify(st.json), JSON.stringify({ did: alice.did, active: true, rev: lc2.json.rev }),
    'getRepoStatus: {did, active, rev}')

  // listRepos: creation order, paginated
  const page1 = await xrpc(base, 'com.atproto.sync.listRepos', { params: { limit: 1 } })
  is(page1.json?.repos?.[0]?.did, alice.did, 'listRepos limit 1: the first account')
  is(page1.json?.repos?.[0]?.head, lc2.json.cid, '... with its head')
  ok(page1.json?.repos?.[0]?.active === true && page1.json?.repos?.[0]?.rev === lc2.json.rev, '... rev, active')
  ok(/^\d+::did:plc:/.test(page1.json?.cursor ?? ''), '... and a cursor (createdAt::did, as the reference)')
  const page2 = await xrpc(base, 'com.atproto.sync.listRepos', { params: { limit: 1, cursor: page1.json.cursor } })
  is(page2.json?.repos?.[0]?.did, bob.did, 'the next page: the second account')
  const page3 = await xrpc(base, 'com.atproto.sync.listRepos', { params: { cursor: page2.json.cursor } })
  ok(page3.status === 200 && page3.json.repos.length === 0 && page3.json.cursor === undefined,
    'the last page is empty, without cursor')
  const all = await xrpc(base, 'com.atproto.sync.listRepos')
  is(all.json?.repos?.map((r) => r.did).join(' '), `${alice.did} ${bob.did}`, 'listRepos: both')
  const badCursor = await xrpc(base, 'com.atproto.sync.listRepos', { params: { cursor: 'nonsense' } })
  is(badCursor.status, 400, 'listRepos with a malformed cursor: 400')
  const badLimit = await xrpc(base, 'com.atproto.sync.listRepos', { params: { limit: 1001 } })
  is(badLimit.status, 400, 'listRepos limit 1001: 400')

  const lb = await xrpc(base, 'com.atproto.sync.listBlobs', { params: { did: alice.did } })
  is(JSON.stringify(lb.json), '{"cids":[]}', 'listBlobs: no blobs')

  // errors
  const nodid = await xrpc(base, 'com.atproto.sync.getRepo')
  ok(nodid.status === 400 && nodid.json?.error === 'InvalidRequest'
    && nodid.json?.message === 'Params must have the property "did"', 'getRepo without did: 400 InvalidRequest')
  const baddid = await xrpc(base, 'com.atproto.sync.getLatestCommit', { params: { did: 'alice.test' } })
  ok(baddid.status === 400 && baddid.json?.error === 'InvalidRequest', 'a handle is not a did: 400')
  const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  for (const nsid of ['getRepo', 'getRecord', 'getBlocks', 'getLatestCommit', 'getRepoStatus', 'listBlobs', 'getHead', 'getCheckout']) {
    const r = await xrpc(base, `com.atproto.sync.${nsid}`, {
      params: { did: unknown, collection: 'com.example.note', rkey: 'x', cids: cid1 },
    })
    ok(r.status === 400 && r.json?.error === 'RepoNotFound'
      && r.json?.message === `Could not find repo for DID: ${unknown}`, `${nsid} of an unknown DID: 400 RepoNotFound`)
  }
  const badSince = await xrpc(base, 'com.atproto.sync.getRepo', { params: { did: alice.did, since: 'nope' } })
  is(badSince.status, 400, 'getRepo with a since that is not a TID: 400')
  const badCol = await xrpc(base, 'com.atproto.sync.getRecord', { params: { did: alice.did, collection: 'nope', rkey: 'x' } })
  is(badCol.status, 400, 'getRecord with a bad collection: 400')
  const post405 = await xrpc(base, 'com.atproto.sync.getRepo', { method: 'POST', params: { did: alice.did }, body: {} })
  is(post405.status, 400, 'getRepo with POST: 400 (a query)')

  // HEAD: headers only
  const headReq = await fetch(`${base}/xrpc/com.atproto.sync.getRepo?did=${alice.did}`, { method: 'HEAD' })
  ok(headReq.status === 200 && headReq.headers.get('content-type') === CAR, 'HEAD getRepo: 200, CAR type')
}

try {
  await main()
} catch (e) {
  ok(false, 'no exception', e.stack)
}
done()
