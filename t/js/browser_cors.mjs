// A real browser (Debian's Chromium, driven by playwright-core) on a page of
// another origin calls the PDS the way a web client does: every non-simple
// request is preflighted, and every answer must pass Chromium's own CORS
// checks.  describeServer, createSession, getSession with a bearer token,
// createRecord (reading the exposed RateLimit-* headers), uploadBlob of a
// PNG the browser draws, a post embedding it, getBlob reading the bytes
// back, an XRPC error body, refreshSession, and subscribeRepos over a
// WebSocket from the page.  Prints TAP.
//
// Environment: PDS_URL (the PDS by host name, http://localhost:A), PAGE_URL
// (the page, http://127.0.0.1:B/), NOCORS_URL (a URL without CORS headers,
// the negative control), HANDLE, PASSWORD, CHROMIUM (default
// /usr/bin/chromium).
import { chromium } from 'playwright-core'
import { ok, is, done, bail } from './tap.mjs'
import { decodeFrame } from './sync_lib.mjs'

const pds = process.env.PDS_URL
const pageUrl = process.env.PAGE_URL
const noCors = process.env.NOCORS_URL
const handle = process.env.HANDLE
const password = process.env.PASSWORD

const corsRe = /CORS|Access-Control|cross-origin/i

// the whole run is bounded: a hung browser fails the file, never blocks it
setTimeout(() => bail(new Error('timed out after 90 s')), 90_000).unref()

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  })
  try {
    await run(browser)
  } finally {
    await browser.close()
  }
}

async function run(browser) {
  const page = await browser.newPage()

  // what the page's console shows (Chromium reports CORS failures there)
  const consoleErrors = []
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()) })
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`))

  // the preflights Chromium sends, seen through the DevTools protocol
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  // (a preflight is sent with initiator "preflight"; the headers on the
  // wire come in the ExtraInfo events, which may arrive first)
  const lower = (h) => Object.fromEntries(Object.entries(h || {}).map(([k, v]) => [k.toLowerCase(), v]))
  const wire = new Map()
  const extra = (id) => wire.get(id) || wire.set(id, {}).get(id)
  const preflights = new Map()
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.initiator?.type === 'preflight' || e.type === 'Preflight') {
      preflights.set(e.requestId, { url: e.request.url, wire: extra(e.requestId) })
    }
  })
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => { extra(e.requestId).request = lower(e.headers) })
  cdp.on('Network.responseReceivedExtraInfo', (e) => {
    Object.assign(extra(e.requestId), { status: e.statusCode, response: lower(e.headers) })
  })

  await page.goto(pageUrl)
  const origin = await page.evaluate(() => location.origin)
  ok(new URL(pds).origin !== origin, `the page (${origin}) is on another origin than the PDS (${pds})`)

  // an XRPC call from the page: status, the headers JS may read, the body
  const call = (method, nsid, opts = {}) => page.evaluate(async ([pds, method, nsid, opts]) => {
    const headers = { ...(opts.headers || {}) }
    let body
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.json)
    }
    const q = opts.query ? '?' + new URLSearchParams(opts.query) : ''
    try {
      const res = await fetch(`${pds}/xrpc/${nsid}${q}`, { method, headers, body })
      const h = {}
      for (const name of ['content-type', 'ratelimit-limit', 'ratelimit-remaining',
        'ratelimit-reset', 'ratelimit-policy', 'vary']) {
        h[name] = res.headers.get(name)
      }
      const text = await res.text()
      let json = null
      try { json = JSON.parse(text) } catch { }
      return { status: res.status, headers: h, json, text }
    } catch (e) {
      return { failed: String(e) }
    }
  }, [pds, method, nsid, opts])

  // describeServer: a simple GET, no preflight
  const desc = await call('GET', 'com.atproto.server.describeServer')
  is(desc.status, 200, 'describeServer from the page')
  is(desc.json?.did, 'did:web:localhost', '... its JSON is readable')

  // createSession: a JSON POST, preflighted for content-type
  const sess = await call('POST', 'com.atproto.server.createSession',
    { json: { identifier: handle, password } })
  is(sess.status, 200, 'createSession from the page', sess)
  ok(sess.json?.accessJwt && sess.json?.refreshJwt, '... tokens readable')
  const did = sess.json?.did
  const bearer = (t) => ({ authorization: `Bearer ${t}` })

  // getSession with Authorization: preflighted for authorization
  const me = await call('GET', 'com.atproto.server.getSession', { headers: bearer(sess.json?.accessJwt) })
  is(me.status, 200, 'getSession with a bearer token')
  is(me.json?.handle, handle, '... the account')

  // the firehose, from the page, before the write
  const wsUrl = pds.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos'
  const wsOpen = await page.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.binaryType = 'arraybuffer'
    window.__frames = []
    ws.onmessage = (m) => window.__frames.push(Array.from(new Uint8Array(m.data)))
    ws.onopen = () => resolve('open')
    ws.onerror = () => resolve('error')
    window.__ws = ws
  }), wsUrl)
  is(wsOpen, 'open', 'subscribeRepos opened over a WebSocket from the page')

  // createRecord: the per-account rate limit headers are exposed to JS
  const post = await call('POST', 'com.atproto.repo.createRecord', {
    headers: bearer(sess.json?.accessJwt),
    json: { repo: did, collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'from a browser', createdAt: new Date().toISOString() } },
  })
  is(post.status, 200, 'createRecord (app.bsky.feed.post) from the page', post)
  ok(post.json?.uri?.startsWith(`at://${did}/app.bsky.feed.post/`), '... uri readable')
  const rl = post.headers
  ok(/^\d+$/.test(rl['ratelimit-limit'] ?? '') && /^\d+$/.test(rl['ratelimit-remaining'] ?? '')
     && /^\d+$/.test(rl['ratelimit-reset'] ?? '') && /^\d+;w=\d+$/.test(rl['ratelimit-policy'] ?? ''),
     'RateLimit-Limit, -Remaining, -Reset and -Policy are readable from JS', rl)
  ok(Number(rl['ratelimit-remaining']) < Number(rl['ratelimit-limit']), '... and the write was charged', rl)
  is(post.headers.vary, null, 'a header the PDS does not expose (Vary) stays hidden from JS')

  // the commit of that record arrives on the page's WebSocket
  const rkey = post.json?.uri?.split('/').pop()
  let commit = null
  for (let i = 0; i < 50 && !commit; i++) {
    const frames = await page.evaluate(() => window.__frames)
    for (const f of frames) {
      const { header, body } = decodeFrame(new Uint8Array(f))
      if (header?.t === '#commit' && body?.repo === did
          && body.ops?.some((o) => o.path === `app.bsky.feed.post/${rkey}`)) commit = body
    }
    if (!commit) await new Promise((r) => setTimeout(r, 100))
  }
  ok(commit, "the commit frame of the createRecord arrived on the page's WebSocket")
  is(commit?.ops?.find((o) => o.path.endsWith(rkey))?.action, 'create', '... as a create')
  await page.evaluate(() => window.__ws.close())

  // uploadBlob: PNG bytes the browser itself encodes, with Content-Type image/png
  const blob = await page.evaluate(async ([pds, token]) => {
    const canvas = new OffscreenCanvas(16, 16)
    const g = canvas.getContext('2d')
    g.fillStyle = '#1185fe'
    g.fillRect(0, 0, 16, 16)
    g.fillStyle = '#ffffff'
    g.fillRect(4, 4, 8, 8)
    const png = await canvas.convertToBlob({ type: 'image/png' })
    const bytes = new Uint8Array(await png.arrayBuffer())
    window.__png = bytes
    const res = await fetch(`${pds}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
      body: png,
    })
    return { status: res.status, json: await res.json(), size: bytes.length,
      magic: Array.from(bytes.slice(0, 8)) }
  }, [pds, sess.json?.accessJwt])
  is(blob.status, 200, `uploadBlob of a ${blob.size}-byte PNG from the page`, blob)
  is(blob.magic?.join(','), '137,80,78,71,13,10,26,10', '... real PNG bytes (the signature)')
  is(blob.json?.blob?.mimeType, 'image/png', '... stored as image/png')
  is(blob.json?.blob?.size, blob.size, '... its size')

  // a post that embeds it, so the blob is kept, then getBlob
  const withImage = await call('POST', 'com.atproto.repo.createRecord', {
    headers: bearer(sess.json?.accessJwt),
    json: { repo: did, collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'a picture', createdAt: new Date().toISOString(),
        embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'a square', image: blob.json?.blob }] } } },
  })
  is(withImage.status, 200, 'a post embedding the blob', withImage)
  const back = await page.evaluate(async ([pds, did, cid]) => {
    const res = await fetch(`${pds}/xrpc/com.atproto.sync.getBlob?` + new URLSearchParams({ did, cid }))
    const bytes = new Uint8Array(await res.arrayBuffer())
    const same = bytes.length === window.__png.length && bytes.every((b, i) => b === window.__png[i])
    return { status: res.status, type: res.headers.get('content-type'), same, len: bytes.length }
  }, [pds, did, blob.json?.blob?.ref?.$link])
  is(back.status, 200, 'getBlob from the page')
  ok(back.same, '... the same bytes as uploaded', back)
  is(back.type, 'image/png', '... as image/png')

  // an XRPC error: status and body readable by the page
  const missing = await call('GET', 'com.atproto.repo.getRecord',
    { query: { repo: did, collection: 'app.bsky.feed.post', rkey: '3zzzzzzzzzzzz' } })
  is(missing.status, 400, 'getRecord of a missing record: 400 from the page')
  is(missing.json?.error, 'RecordNotFound', '... {error: RecordNotFound} readable from JS')
  ok(typeof missing.json?.message === 'string', '... with a message')
  const noAuth = await call('POST', 'com.atproto.repo.createRecord',
    { json: { repo: did, collection: 'app.bsky.feed.post', record: { text: 'x' } } })
  is(noAuth.status, 401, 'a write without a token: 401 from the page')
  is(noAuth.json?.error, 'AuthMissing', '... {error: AuthMissing} readable from JS')

  // refreshSession with the refresh token, then the new access token works
  const fresh = await call('POST', 'com.atproto.server.refreshSession',
    { headers: bearer(sess.json?.refreshJwt) })
  is(fresh.status, 200, 'refreshSession from the page')
  // (an access token made in the same second as the first is the same
  // token: it has no id of its own, as the reference's has none)
  ok(fresh.json?.refreshJwt && fresh.json.refreshJwt !== sess.json?.refreshJwt,
    '... a new refresh token', fresh.json)
  const me2 = await call('GET', 'com.atproto.server.getSession', { headers: bearer(fresh.json?.accessJwt) })
  is(me2.json?.did, did, '... which getSession accepts')

  // what Chromium preflighted, and what the PDS answered
  const seen = [...preflights.values()].map((p) => ({ url: p.url, ...p.wire }))
  const pre = (nsid) => seen.find((p) => p.url.includes(`/xrpc/${nsid}`))
  ok(seen.length >= 5, `Chromium sent ${seen.length} preflights`, seen.map((p) => p.url))
  ok(seen.every((p) => p.status === 204), '... each answered 204', seen.map((p) => [p.url, p.status]))
  const pUpload = pre('com.atproto.repo.uploadBlob')
  is(pUpload?.request?.['access-control-request-method'], 'POST', 'uploadBlob was preflighted')
  is(pUpload?.request?.['access-control-request-headers'], 'authorization,content-type',
    '... for authorization and content-type')
  is(pUpload?.response?.['access-control-allow-headers'], 'authorization,content-type',
    '... the requested headers echoed')
  is(pUpload?.response?.['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE',
    '... the methods allowed')
  is(pUpload?.response?.['access-control-max-age'], '86400', '... a max-age of a day')
  is(pUpload?.response?.['access-control-allow-origin'], '*', '... any origin')
  is(pUpload?.response?.vary, 'Access-Control-Request-Headers', '... Vary: Access-Control-Request-Headers')
  is(pre('com.atproto.server.getSession')?.response?.['access-control-allow-headers'], 'authorization',
    'getSession was preflighted for authorization')
  is(pre('com.atproto.server.createSession')?.response?.['access-control-allow-headers'], 'content-type',
    'createSession was preflighted for content-type')
  // Chromium keeps a preflight's answer (for the max-age, capped at two
  // hours; five seconds without one): the second getSession was not
  // preflighted again
  is(seen.filter((p) => p.url.includes('/xrpc/com.atproto.server.getSession')).length, 1,
    'one preflight for two getSessions: Chromium cached the answer')

  ok(!consoleErrors.some((t) => corsRe.test(t)), 'no CORS error in the page console', consoleErrors)

  // the negative control: a server without CORS headers is blocked, and
  // the console check above would have seen it
  const blocked = await page.evaluate(async (url) => {
    try { await fetch(url); return 'fetched' } catch (e) { return e.name }
  }, noCors)
  is(blocked, 'TypeError', 'control: a fetch to a server without CORS headers fails in the page')
  await new Promise((r) => setTimeout(r, 200))
  ok(consoleErrors.some((t) => corsRe.test(t) && t.includes(new URL(noCors).host)),
    '... and the console shows that CORS error', consoleErrors)
}

main().then(done, bail)
