// Checks repositories made by the core's repo engine (through
// build/t/pds_repo_cli) with the reference client library @atproto/repo:
// a full CAR of a repo of more than 1,000 records written in random order
// (creates, updates, deletes), its commit signature against the account's
// did:key, the records found by walking the MST, a `since` diff CAR applied
// to the older state, record proofs (present and absent keys) and the
// firehose #commit events (blocks, ops, and inversion to prevData).
// Prints TAP.  Run from the repository root; PDS_BUILD_DIR picks the build.

import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import path from 'node:path'

const require = createRequire(import.meta.url)
const repo = require('@atproto/repo')
const lexCbor = require('@atproto/lex-cbor')
const { parseCid } = require('@atproto/lex-data')

const buildDir = process.env.PDS_BUILD_DIR || 'build'
const cli = path.resolve(buildDir, 't', 'pds_repo_cli')

let n = 0
let failed = 0

function ok(cond, name, diag) {
  n++
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`)
  if (!cond) {
    failed++
    if (diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`)
  }
  return cond
}

function run(...args) {
  return execFileSync(cli, args, { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] })
}
const runText = (...args) => run(...args).toString('utf8').trim()

const dir = mkdtempSync(path.join(tmpdir(), 'pds-repo-'))
const did = 'did:plc:' + 'abcdefghijklmnopqrstuvwxyz234567'.split('')
  .sort(() => Math.random() - 0.5).slice(0, 24).join('')
const seed = String(Date.now() % 100000)

function recordSet(json) {
  return new Map(Object.entries(JSON.parse(json)))
}

function sameMap(a, b) {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

async function loadRepo(car) {
  const { root, blocks } = await repo.readCarWithRoot(car)
  const storage = new repo.MemoryBlockstore(blocks)
  return repo.Repo.load(storage, root)
}

try {
  console.log(`# dir ${dir} did ${did} seed ${seed}`)
  runText('init', dir)
  runText('create-repo', dir, did, randomBytes(32).toString('hex'))
  const didKey = runText('did-key', dir, did)

  // phase 1: an older state
  runText('random-writes', dir, did, '500', '--seed', seed, '--ops', '4', '--group', '4')
  const [, rev1] = runText('root', dir, did).split(' ')
  const car1 = run('export', dir, did)
  const set1 = recordSet(runText('records', dir, did))

  // phase 2: more writes
  runText('random-writes', dir, did, '1000', '--seed', seed + '7', '--ops', '4', '--group', '8')
  const [commit2, rev2, data2] = runText('root', dir, did).split(' ')
  const car2 = run('export', dir, did)
  const set2 = recordSet(runText('records', dir, did))
  ok(set2.size >= 1000, `repo has ${set2.size} records (>= 1000)`)
  ok(runText('verify', dir).startsWith('ok '), 'the store verifies')

  // the full CAR
  const verified = await repo.verifyRepoCar(car2, did, didKey)
  ok(verified.commit.cid.toString() === commit2, 'verifyRepoCar: commit CID')
  ok(verified.commit.rev === rev2, 'verifyRepoCar: rev')
  const found = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  ok(sameMap(found, set2), `MST walk finds exactly the ${set2.size} records written`,
    `found ${found.size}`)
  const records = await repo.verifyRecords(car2, did, didKey)
  const goodRecords = records.length === set2.size && records.every((c) =>
    typeof c.record.text === 'string' && c.record.$type === c.collection)
  ok(goodRecords, 'verifyRecords: every record decodes with its $type and text')

  const r2 = await loadRepo(car2)
  ok(r2.commit.data.toString() === data2, 'commit data is the MST root')
  ok(await repo.verifyCommitSig(r2.commit, didKey), 'commit signature verifies against did:key')
  const walked = await r2.data.list()
  ok(walked.length === set2.size, 'MST list() length')

  let badSig = false
  try {
    const other = 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme'
    badSig = await repo.verifyCommitSig(r2.commit, other)
  } catch (e) { badSig = false }
  ok(!badSig, 'signature does not verify against another key')

  // the since diff against the older state
  const since = run('export', dir, did, '--since', rev1)
  ok(since.length < car2.length, `since diff is smaller (${since.length} < ${car2.length})`)
  const r1 = await loadRepo(car1)
  ok(r1.commit.rev === rev1, 'older CAR is at rev1')
  const diff = await repo.verifyDiffCar(r1, since, did, didKey)
  ok(diff.commit.rev === rev2, 'verifyDiffCar: new rev')
  const applied = new Map(set1)
  for (const w of diff.writes) {
    const key = `${w.collection}/${w.rkey}`
    if (w.action === 'delete') applied.delete(key)
    else applied.set(key, w.cid.toString())
  }
  ok(sameMap(applied, set2), `diff writes (${diff.writes.length}) take rev1's records to rev2's`)

  // record proofs
  const keys = [...set2.keys()]
  let proofsOk = true
  for (let i = 0; i < 8; i++) {
    const key = keys[Math.floor(Math.random() * keys.length)]
    const [collection, rkey] = key.split('/')
    const proof = run('proof', dir, did, collection, rkey)
    const claim = { collection, rkey, cid: parseCid(set2.get(key)) }
    const res = await repo.verifyProofs(proof, [claim], did, didKey)
    if (res.verified.length !== 1) proofsOk = false
    const recs = await repo.verifyRecords(proof, did, didKey)
    // other leaves of the proof's nodes only come back when they share
    // the record block (identical records)
    const got = recs.map((r) => `${r.collection}/${r.rkey}`)
    if (!got.includes(key) || !got.every((k) => set2.get(k) === set2.get(key))) proofsOk = false
  }
  ok(proofsOk, 'proofs of present records verify (verifyProofs, verifyRecords)')

  let absentOk = true
  const gone = [...set1.keys()].filter((k) => !set2.has(k))
  const absent = gone.slice(0, 4).concat(['app.bsky.feed.post/zzzzzzzzzzzzz', 'app.bsky.feed.like/2222222222222', 'aaa.b.c/x'])
  for (const key of absent) {
    const [collection, rkey] = key.split('/')
    const proof = run('proof', dir, did, collection, rkey)
    const res = await repo.verifyProofs(proof, [{ collection, rkey, cid: null }], did, didKey)
    if (res.verified.length !== 1) absentOk = false
    const recs = await repo.verifyRecords(proof, did, didKey)
    if (recs.length !== 0) absentOk = false
  }
  ok(absentOk, `proofs of absence verify (${absent.length} keys, ${gone.length} deleted ones available)`)

  {
    const key = keys[0]
    const [collection, rkey] = key.split('/')
    const proof = run('proof', dir, did, collection, rkey)
    const res = await repo.verifyProofs(proof, [{ collection, rkey, cid: null }], did, didKey)
    ok(res.unverified.length === 1, 'a false claim of absence is rejected')
  }

  // firehose #commit events: blocks, ops, inversion to prevData
  const events = runText('events', dir).split('\n').map((l) => l.split(' '))
  const commits = events.filter((e) => e[1] === '#commit').map((e) => e[0])
  ok(commits.length === 1501, `${commits.length} #commit events (1 empty + 1500)`)
  let evOk = 0
  let evChecked = 0
  const evErr = []
  const sample = commits.slice(1).filter(() => Math.random() < 0.1).concat(commits.slice(-3))
  for (const seq of sample) {
    evChecked++
    try {
      const [header, body] = lexCbor.decodeAll(run('event', dir, seq))
      if (header.op !== 1 || header.t !== '#commit') throw new Error('header')
      if (body.seq !== Number(seq) || body.repo !== did) throw new Error('seq/repo')
      if (body.rebase !== false || body.tooBig !== false || body.blobs.length !== 0) throw new Error('deprecated fields')
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(body.time)) throw new Error('time')
      const { root, blocks } = await repo.readCarWithRoot(body.blocks)
      if (!root.equals(body.commit)) throw new Error('CAR root')
      const storage = new repo.MemoryBlockstore(blocks)
      const commit = await storage.readObj(root, repo.def.commit)
      if (commit.rev !== body.rev || commit.did !== did) throw new Error('commit rev')
      if (!(await repo.verifyCommitSig(commit, didKey))) throw new Error('sig')
      let mst = repo.MST.load(storage, commit.data)
      for (const op of body.ops) {
        const got = await mst.get(op.path)
        if (op.action === 'delete' ? got !== null : !(got && got.equals(op.cid))) throw new Error('op ' + op.path)
        if (op.action !== 'delete' && !blocks.has(op.cid)) throw new Error('record block')
      }
      // invert the ops on the partial tree: must give prevData
      for (const op of [...body.ops].reverse()) {
        if (op.action === 'create') mst = await mst.delete(op.path)
        else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
        else mst = await mst.add(op.path, op.prev)
      }
      const inverted = await mst.getPointer()
      if (!inverted.equals(body.prevData)) throw new Error('inversion')
      evOk++
    } catch (e) {
      evErr.push(`seq ${seq}: ${e.message}`)
    }
  }
  ok(evOk === evChecked && evChecked > 10, `${evOk}/${evChecked} #commit events verify and invert to prevData`,
    evErr.slice(0, 5).join('\n'))
} catch (e) {
  ok(false, 'no exception', e.stack)
} finally {
  rmSync(dir, { recursive: true, force: true })
}

console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
