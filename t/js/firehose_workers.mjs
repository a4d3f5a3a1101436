// The firehose across nginx workers and a reload: subscribers spread over
// two workers (SUB_URL is a "reuseport" listener) all get every event
// written through any worker; then `nginx -s reload` (SIGHUP to NGINX_PID)
// while writes go on: the old workers close their subscribers with 1001,
// which reconnect with their last cursor and miss nothing.  Prints TAP.
// Environment: PDS_URL, SUB_URL, PDS_ADMIN, NGINX_PID.
import {
  ok, is, done, deadline, sleep, xrpc, newAccount, RawSub, consecutive,
} from './sync_lib.mjs'

const base = process.env.PDS_URL
const subUrl = process.env.SUB_URL
const admin = process.env.PDS_ADMIN
const master = Number(process.env.NGINX_PID)
const SUBS = 8

deadline(90000)

const post = (text) => ({
  $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString(),
})

async function createPost(acc, text) {
  for (let i = 0; i < 50; i++) {
    try {
      const res = await xrpc(base, 'com.atproto.repo.createRecord', {
        method: 'POST', token: acc.accessJwt,
        body: { repo: acc.did, collection: 'app.bsky.feed.post', record: post(text) },
      })
      if (res.status === 200) return
    } catch { /* a connection cut by the reload: again */ }
    await sleep(50)
  }
  throw new Error('createRecord kept failing')
}

async function main() {
  const subs = []
  for (let i = 0; i < SUBS; i++) subs.push(new RawSub(subUrl, { cursor: 0 }))
  await Promise.all(subs.map((s) => s.opened))
  ok(true, `${SUBS} subscribers connected`)

  const acc = await newAccount(base, admin, 'many.test')           // 1..4
  for (let i = 0; i < 10; i++) await createPost(acc, `post ${i}`)  // 5..14

  const all = await Promise.all(subs.map((s) => s.waitFor((x) => x.events.length >= 14)))
  ok(all.every(Boolean), 'every subscriber got the 14 events')
  ok(subs.every((s) => consecutive(s.seqs, 1) && s.seqs.length === 14),
    '... in order, without gap or duplicate', subs.map((s) => s.seqs.join(',')))

  // reload while writing (no write is in flight at the very moment of the
  // signal: see the report about requests waiting on a thread-pool task)
  let writing = true
  let hold = false
  let idle = null
  let written = 14
  const writer = (async () => {
    while (writing) {
      if (hold) {
        if (idle) { idle(); idle = null }
        await sleep(5)
        continue
      }
      await createPost(acc, `during reload ${written}`)
      written++
      await sleep(20)
    }
  })()
  await sleep(200)
  await new Promise((resolve) => { idle = resolve; hold = true })
  process.kill(master, 'SIGHUP')
  hold = false

  const closed = await Promise.all(subs.map((s) => s.waitClosed(15000)))
  ok(closed.every(Boolean), 'after the reload every subscriber of the old workers is closed')
  ok(subs.every((s) => s.closed?.code === 1001), '... with 1001 (going away)', subs.map((s) => s.closed))

  // reconnect with the last cursor (the new workers may take a moment)
  const again = []
  for (const s of subs) {
    let r
    for (let i = 0; i < 50; i++) {
      r = new RawSub(subUrl, { cursor: s.seqs.at(-1) })
      try { await r.opened; break } catch { await sleep(100) }
    }
    again.push(r)
  }
  await sleep(500)
  writing = false
  await writer
  for (let i = 0; i < 3; i++) await createPost(acc, `after reload ${i}`)

  // the head: a write cut by the reload may have been committed and then
  // retried, so ask the server (a full replay) rather than count
  const probe = new RawSub(base, { cursor: 0 })
  await probe.opened
  await sleep(500)
  await probe.waitFor((x) => x.seqs.length >= written + 3)
  ok(consecutive(probe.seqs, 1), `a full replay after the reload: seq 1..${probe.seqs.at(-1)} without gap`)
  written = probe.seqs.at(-1)
  probe.close()

  const got = await Promise.all(again.map((s) => s.waitFor((x) => x.seqs.at(-1) === written)))
  ok(got.every(Boolean), `every subscriber reached seq ${written} after reconnecting`,
    again.map((s) => s.seqs.at(-1)))
  const whole = subs.map((s, i) => s.seqs.concat(again[i].seqs))
  ok(whole.every((w) => consecutive(w, 1) && w.length === written),
    'old + new connection: every event exactly once, in order', whole.map((w) => w.length))
  ok(written > 17, `${written - 17} events were written during the reload`)

  again.forEach((s) => s.close())
  await Promise.all(again.map((s) => s.waitClosed()))
}

try {
  await main()
} catch (e) {
  ok(false, 'no exception', e.stack)
}
done()
