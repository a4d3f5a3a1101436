// subscribeRepos cursor rules, with a 3 s backfill window
// ($pds_firehose_backfill_ms 3000): no cursor = live only; a cursor inside
// the window = replay then live; a cursor older than the window = #info
// OutdatedCursor then replay from the window's first event; a cursor in
// the future = FutureCursor error frame and close.  Prints TAP.
// Environment: PDS_URL, PDS_ADMIN.
import {
  require, ok, is, done, deadline, sleep, xrpc, newAccount, RawSub, consecutive,
} from './sync_lib.mjs'

const base = process.env.PDS_URL
const admin = process.env.PDS_ADMIN

deadline(60000)

async function main() {
  // not a WebSocket: an XRPC error
  const plain = await xrpc(base, 'com.atproto.sync.subscribeRepos')
  is(plain.status, 400, 'a plain GET is refused with 400')
  is(plain.json?.error, 'InvalidRequest', '... InvalidRequest')

  const empty = new RawSub(base, { cursor: 0 })
  await empty.opened
  ok(true, 'cursor 0 on an empty stream is accepted')

  const old = await newAccount(base, admin, 'old.test')          // seq 1..4
  await empty.waitFor((s) => s.events.length === 4)
  ok(consecutive(empty.seqs, 1) && empty.seqs.length === 4, '... and follows from seq 1')
  empty.close()

  await sleep(3500)                                               // out of the window
  const fresh = await newAccount(base, admin, 'fresh.test')       // seq 5..8

  // future
  const future = new RawSub(base, { cursor: 9 })
  await future.opened
  ok(await future.waitClosed(), 'cursor 9 (head is 8): the server closes')
  const ef = future.frames
  is(ef.length, 1, '... after one frame')
  is(ef[0]?.header.op, -1, '... an error frame {op: -1}')
  is(ef[0]?.body.error, 'FutureCursor', '... FutureCursor')
  is(ef[0]?.body.message, 'Cursor in the future.', '... with the reference message')

  // bad cursor
  const bad = new RawSub(base, { cursor: 'abc' })
  await bad.opened
  await bad.waitClosed()
  is(bad.frames[0]?.body.error, 'InvalidRequest', 'a non-integer cursor: InvalidRequest error frame')

  // outdated: #info, then the window from its first event
  const outdated = new RawSub(base, { cursor: 2 })
  const zero = new RawSub(base, { cursor: 0 })
  // inside the window
  const inside = new RawSub(base, { cursor: 6 })
  // at the head
  const head = new RawSub(base, { cursor: 8 })
  // live only
  const live = new RawSub(base)
  await Promise.all([outdated, zero, inside, head, live].map((s) => s.opened))

  await outdated.waitFor((s) => s.frames.length >= 5)
  const f0 = outdated.frames[0]
  ok(f0 && f0.header.op === 1 && f0.header.t === '#info', 'outdated cursor: first an #info frame')
  is(f0?.body.name, 'OutdatedCursor', '... name OutdatedCursor')
  is(f0?.body.message, 'Requested cursor exceeded limit. Possibly missing events', '... the reference message')
  ok(consecutive(outdated.seqs, 5) && outdated.seqs.length === 4,
    '... then the replay starts at the window (seq 5..8)', outdated.seqs)
  await zero.waitFor((s) => s.frames.length >= 5)
  ok(zero.frames[0]?.body.name === 'OutdatedCursor' && consecutive(zero.seqs, 5),
    'cursor 0 with old events: OutdatedCursor, then seq 5..', zero.seqs)

  await inside.waitFor((s) => s.events.length >= 2)
  ok(consecutive(inside.seqs, 7) && inside.seqs.length === 2 && inside.frames[0].header.t !== '#info',
    'cursor 6 inside the window: seq 7, 8 without #info', inside.seqs)

  await sleep(300)
  is(head.frames.length, 0, 'cursor at the head: nothing replayed')
  is(live.frames.length, 0, 'no cursor: nothing replayed')

  // then all of them continue live, without a gap
  const res = await xrpc(base, 'com.atproto.repo.createRecord', {
    method: 'POST', token: fresh.accessJwt,
    body: { repo: fresh.did, collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'live', createdAt: new Date().toISOString() } },
  })
  is(res.status, 200, 'a new record')
  for (const [name, s, first, n] of [['outdated', outdated, 5, 5], ['zero', zero, 5, 5],
    ['inside', inside, 7, 3], ['head', head, 9, 1], ['live', live, 9, 1]]) {
    await s.waitFor((x) => x.events.length >= n)
    ok(consecutive(s.seqs, first) && s.seqs.length === n, `${name}: continues live with seq 9`, s.seqs)
  }

  for (const s of [outdated, zero, inside, head, live]) s.close()
  await Promise.all([outdated, zero, inside, head, live].map((s) => s.waitClosed()))
  void old
}

try {
  await main()
} catch (e) {
  ok(false, 'no exception', e.stack)
}
done()
