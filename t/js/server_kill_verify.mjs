// After t/42-server-kill.t's rounds of SIGKILL: each account's repo, as
// com.atproto.sync.getRepo exports it, verified with @atproto/repo
// (verifyRepoCar against the account's did:key from the PLC directory: the
// commit signature, the MST, every block), its commit is getLatestCommit's,
// and every write acknowledged before a kill (200 with uri and cid) is in
// it with its CID.  Prints TAP.
// Environment: PDS_URL, PLC_URL, ACKS (a JSON file: {did: {path: cid}}).
import { readFileSync } from 'node:fs'
import { require, ok, is, done, deadline, xrpc, didKeyOf } from './sync_lib.mjs'

const repo = require('@atproto/repo')

const base = process.env.PDS_URL
const plc = process.env.PLC_URL
const acks = JSON.parse(readFileSync(process.env.ACKS, 'utf8'))

deadline(60000)

async function main() {
  for (const did of Object.keys(acks).sort()) {
    const want = acks[did]
    const key = await didKeyOf(plc, did)
    const car = await xrpc(base, 'com.atproto.sync.getRepo', { params: { did }, raw: true })
    is(car.status, 200, `${did}: getRepo`)
    let verified
    try {
      verified = await repo.verifyRepoCar(car.bytes, did, key)
      ok(true, `${did}: verifyRepoCar (${car.bytes.length} bytes, signature, MST, blocks)`)
    } catch (e) {
      ok(false, `${did}: verifyRepoCar`, e.stack)
      continue
    }
    const latest = await xrpc(base, 'com.atproto.sync.getLatestCommit', { params: { did } })
    is(verified.commit.cid.toString(), latest.json?.cid, `${did}: the CAR's commit is getLatestCommit's`)
    const found = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
    const missing = Object.entries(want).filter(([path, cid]) => found.get(path) !== cid)
    ok(missing.length === 0,
      `${did}: all ${Object.keys(want).length} acknowledged writes are in the repo with their CIDs (${found.size} records)`,
      missing.slice(0, 5).map(([p, c]) => `${p} ${c} -> ${found.get(p)}`).join('\n'))
  }
}

main().then(done, (e) => { ok(false, 'no exception', e.stack); done() })
