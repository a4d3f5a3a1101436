// The reading side of the slow-consumer test (t/interop/21-firehose-slow.t, where a
// Perl client with a tiny receive buffer never reads): two consumers that
// read get all of ~4 MB of records in order while the slow one is dropped,
// and stay connected.  Prints TAP.  Environment: PDS_URL, PDS_ADMIN, and
// ACCOUNT (JSON of createAccount's answer, made before the slow client).
import {
  ok, is, done, deadline, xrpc, RawSub, consecutive,
} from './sync_lib.mjs'

const base = process.env.PDS_URL
const N = 40

deadline(90000)

async function main() {
  const acc = JSON.parse(process.env.ACCOUNT)                      // seq 1..4

  const fast = new RawSub(base)
  const fast2 = new RawSub(base, { cursor: 4 })
  await Promise.all([fast.opened, fast2.opened])

  const big = 'x'.repeat(100000)
  for (let i = 0; i < N; i++) {
    const res = await xrpc(base, 'com.atproto.repo.createRecord', {
      method: 'POST', token: acc.accessJwt,
      body: { repo: acc.did, collection: 'com.example.bulk', record: { $type: 'com.example.bulk', i, big } },
    })
    if (res.status !== 200) throw new Error(`createRecord ${i}: ${res.status} ${JSON.stringify(res.json)}`)
  }

  ok(await fast.waitFor((s) => s.events.length >= N), `a reading consumer got all ${N} big events`)
  ok(consecutive(fast.seqs, 5) && fast.seqs.length === N, '... in order, no gap', fast.seqs)
  ok(await fast2.waitFor((s) => s.events.length >= N) && consecutive(fast2.seqs, 5),
    'a second reading consumer too')

  ok(fast.closed === null && fast2.closed === null, 'the reading consumers are still connected')
  const res = await xrpc(base, 'com.atproto.repo.createRecord', {
    method: 'POST', token: acc.accessJwt,
    body: { repo: acc.did, collection: 'com.example.bulk', record: { $type: 'com.example.bulk', i: N } },
  })
  is(res.status, 200, 'one more record')
  ok(await fast.waitFor((s) => s.seqs.at(-1) === N + 5), '... reaches them')
  fast.close()
  fast2.close()
}

try {
  await main()
} catch (e) {
  ok(false, 'no exception', e.stack)
}
done()
