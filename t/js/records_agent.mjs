// Records through the official client: post, like, repost, follow,
// profile (putRecord), delete, applyWrites, listRecords paging both ways,
// getRecord, swaps.  Prints TAP.  Environment: PDS_URL, PDS_ADMIN.
import { AtpAgent } from '@atproto/api'
import { ok, is, done, bail } from './tap.mjs'


const service = process.env.PDS_URL
const admin = process.env.PDS_ADMIN

async function invite() {
  const res = await fetch(`${service}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64'),
    },
    body: JSON.stringify({ useCount: 1 }),
  })
  return (await res.json()).code
}

async function main() {
  const alice = new AtpAgent({ service })
  await alice.createAccount({ email: 'fay@example.com', handle: 'fay.test', password: 'fay-pass-1', inviteCode: await invite() })
  const bob = new AtpAgent({ service })
  await bob.createAccount({ email: 'gus@example.com', handle: 'gus.test', password: 'gus-pass-1', inviteCode: await invite() })
  const did = alice.session.did

  const post = await alice.post({ text: 'hello from ngx_pds_module', createdAt: new Date().toISOString() })
  ok(post.uri.startsWith(`at://${did}/app.bsky.feed.post/`), 'post: uri')
  ok(/^bafyrei/.test(post.cid), 'post: cid')
  const unknown = await alice.com.atproto.repo.createRecord({ repo: did, collection: 'com.example.note', record: { text: 'mine' } })
  is(unknown.data.validationStatus, 'unknown', 'a type the PDS has no schema for is stored as unknown')
  const valid = await alice.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: { text: 'checked', createdAt: new Date().toISOString() } })
  is(valid.data.validationStatus, 'valid', 'a post is validated against its Lexicon')

  const got = await alice.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post.uri.split('/').pop() })
  is(got.data.value.text, 'hello from ngx_pds_module', 'getRecord returns the text')
  is(got.data.cid, post.cid, 'getRecord cid')
  is(got.data.value.$type, 'app.bsky.feed.post', '$type defaulted to the collection')

  const like = await bob.like(post.uri, post.cid)
  ok(like.uri.includes('app.bsky.feed.like'), 'like')
  const repost = await bob.repost(post.uri, post.cid)
  ok(repost.uri.includes('app.bsky.feed.repost'), 'repost')
  const follow = await bob.follow(did)
  ok(follow.uri.includes('app.bsky.graph.follow'), 'follow')

  // profile with putRecord (upsertProfile reads then writes with swapRecord)
  await alice.upsertProfile((old) => ({ ...(old || {}), displayName: 'Fay', description: 'testing' }))
  const prof = await alice.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
  is(prof.data.value.displayName, 'Fay', 'profile created with putRecord')
  await alice.upsertProfile((old) => ({ ...old, displayName: 'Fay F.' }))
  const prof2 = await alice.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
  is(prof2.data.value.displayName, 'Fay F.', 'profile updated with putRecord and swapRecord')

  // unchanged putRecord makes no commit
  const same = await alice.com.atproto.repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record: prof2.data.value })
  is(same.data.commit, undefined, 'an unchanged putRecord makes no commit')
  is(same.data.cid, prof2.data.cid, '... and answers the same cid')

  // bad swap
  let err = null
  try {
    await alice.com.atproto.repo.putRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record: { displayName: 'x' }, swapRecord: post.cid })
  } catch (e) { err = e }
  is(err?.error, 'InvalidSwap', 'a wrong swapRecord is refused with InvalidSwap')

  // writing someone else's repo
  err = null
  try {
    await bob.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: { text: 'x', createdAt: new Date().toISOString() } })
  } catch (e) { err = e }
  is(err?.status, 401, "another account's repo is refused")

  // applyWrites: 3 creates, then an update and a delete in one commit
  const created = await alice.com.atproto.repo.applyWrites({
    repo: did,
    writes: [1, 2, 3].map((i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'app.bsky.feed.post',
      value: { $type: 'app.bsky.feed.post', text: `batch ${i}`, createdAt: new Date().toISOString() },
    })),
  })
  const batchKeys = created.data.results.map((r) => r.uri.split('/').pop())
  is(created.data.results.length, 3, 'applyWrites: three results')
  is(created.data.results[0].$type, 'com.atproto.repo.applyWrites#createResult', 'applyWrites: createResult')
  ok(created.data.commit?.rev, 'applyWrites: one commit')
  const mixed = await alice.com.atproto.repo.applyWrites({
    repo: did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: batchKeys[0], value: { $type: 'app.bsky.feed.post', text: 'batch 1 edited', createdAt: new Date().toISOString() } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: batchKeys[1] },
    ],
  })
  is(mixed.data.results[1].$type, 'com.atproto.repo.applyWrites#deleteResult', 'applyWrites: deleteResult')
  ok(mixed.data.commit.rev > created.data.commit.rev, 'revs increase')

  // delete a post
  await alice.deletePost(post.uri)
  err = null
  try {
    await alice.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post.uri.split('/').pop() })
  } catch (e) { err = e }
  is(err?.error, 'RecordNotFound', 'a deleted post is gone')
  const again = await alice.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: 'nope' })
  is(again.data.commit, undefined, 'deleting a missing record is a no-op')

  // listRecords paging both directions over 25 posts
  const writes = []
  for (let i = 0; i < 25; i++) {
    writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.like', value: { $type: 'app.bsky.feed.like', subject: { uri: post.uri, cid: post.cid }, createdAt: new Date().toISOString() } })
  }
  const likes = await alice.com.atproto.repo.applyWrites({ repo: did, writes })
  const likeKeys = likes.data.results.map((r) => r.uri.split('/').pop())
  const seen = []
  let cursor
  do {
    const page = await alice.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.like', limit: 10, cursor })
    seen.push(...page.data.records.map((r) => r.uri.split('/').pop()))
    cursor = page.data.records.length === 10 ? page.data.cursor : undefined
  } while (cursor)
  is(seen.length, 25, 'listRecords pages through all 25')
  is(seen.join(','), [...likeKeys].sort().reverse().join(','), 'default order is rkey descending (newest TID first)')
  const rev = []
  cursor = undefined
  do {
    const page = await alice.com.atproto.repo.listRecords({ repo: 'fay.test', collection: 'app.bsky.feed.like', limit: 7, cursor, reverse: true })
    rev.push(...page.data.records.map((r) => r.uri.split('/').pop()))
    cursor = page.data.records.length === 7 ? page.data.cursor : undefined
  } while (cursor)
  is(rev.join(','), [...seen].reverse().join(','), 'reverse pages give the same records in ascending order')

  // an image: upload, post with it, fetch it back, delete the post
  const bytes = new Uint8Array(200 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 251
  const up = await alice.uploadBlob(bytes, { encoding: 'image/png' })
  const blob = up.data.blob
  is(blob.mimeType, 'image/png', 'uploadBlob: mime type')
  is(blob.size, bytes.length, 'uploadBlob: size')
  ok(blob.ref.toString().startsWith('bafkrei'), 'uploadBlob: a raw CID')
  const withImage = await alice.post({
    text: 'with a picture',
    embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'pattern', image: blob }] },
    createdAt: new Date().toISOString(),
  })
  ok(withImage.uri, 'post with an image')
  const res = await fetch(`${service}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${blob.ref.toString()}`)
  is(res.status, 200, 'getBlob')
  const body = new Uint8Array(await res.arrayBuffer())
  ok(body.length === bytes.length && body.every((v, i) => v === bytes[i]), 'getBlob returns the bytes')
  is(res.headers.get('content-type'), 'image/png', 'getBlob content type')
  is(res.headers.get('x-content-type-options'), 'nosniff', 'getBlob nosniff')
  is(res.headers.get('content-security-policy'), "default-src 'none'; sandbox", 'getBlob CSP')
  const range = await fetch(`${service}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${blob.ref.toString()}`, { headers: { range: 'bytes=10-19' } })
  is(range.status, 206, 'getBlob serves ranges')
  const part = new Uint8Array(await range.arrayBuffer())
  ok(part.length === 10 && part.every((v, i) => v === bytes[10 + i]), '... the right bytes')

  // a record pointing at a blob that was never uploaded
  err = null
  try {
    await alice.post({ text: 'x', embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: { $type: 'blob', ref: { $link: 'bafkreidpbo4egjykinbnddutgohg7q66zwn4lpw4xapeyqlc6dnhfqjbca' }, mimeType: 'image/png', size: 5 } }] }, createdAt: new Date().toISOString() })
  } catch (e) { err = e }
  is(err?.error, 'BlobNotFound', 'a reference to a missing blob is refused')

  await alice.deletePost(withImage.uri)
  const gone = await fetch(`${service}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${blob.ref.toString()}`)
  is(gone.status, 400, 'the blob goes with its last record')

  const desc = await alice.com.atproto.repo.describeRepo({ repo: did })
  ok(desc.data.collections.includes('app.bsky.feed.like') && desc.data.collections.includes('app.bsky.actor.profile'), 'describeRepo lists the collections')

  done()
}

main().catch(bail)
