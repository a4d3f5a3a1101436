// Firehose fan-out and getRepo benchmark against any PDS (ours or the
// reference), on loopback, bounded in time:
//   1. SUBS subscribeRepos clients (no cursor) connect;
//   2. WRITERS parallel writers create EVENTS records (one commit each);
//      every client receives every #commit: delivered events/s (all
//      clients together) and the delivery lag of each (client, event) pair
//      (receipt time - the event's own `time`), p50 / p99 / max;
//   3. (REPO_RECORDS > 0) an account with REPO_RECORDS records written by
//      applyWrites in batches of 200, then getRepo timed (and, with
//      WATCH_PID set, the peak RssAnon of that process and its children
//      sampled every 5 ms during the download).
// Prints one JSON line.  Environment: PDS_URL, PDS_ADMIN, SUBS (100),
// EVENTS (1000), WRITERS (4), REPO_RECORDS (0), WATCH_PID, TIMEOUT_MS.
import { createRequire } from 'node:module'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', 't', 'js', 'package.json'))
const WebSocket = require('ws')
const lexCbor = require('@atproto/lex-cbor')

const base = process.env.PDS_URL
const admin = process.env.PDS_ADMIN
const SUBS = Number(process.env.SUBS || 100)
const EVENTS = Number(process.env.EVENTS || 1000)
const WRITERS = Number(process.env.WRITERS || 4)
const REPO_RECORDS = Number(process.env.REPO_RECORDS || 0)
const TIMEOUT = Number(process.env.TIMEOUT_MS || 120000)

setTimeout(() => { console.error('bench: timed out'); process.exit(2) }, TIMEOUT).unref()

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function call(nsid, { method = 'GET', body, token, params } = {}) {
  const url = new URL(`${base}/xrpc/${nsid}`)
  for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v)
  const headers = {}
  if (body) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  if (!token && method === 'POST' && nsid.includes('InviteCode')) {
    headers.authorization = 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64')
  }
  const res = await fetch(url, { method, headers, body: body && JSON.stringify(body) })
  if (!res.ok) throw new Error(`${nsid}: ${res.status} ${await res.text()}`)
  return res
}

async function account(handle) {
  const inv = await (await call('com.atproto.server.createInviteCode', { method: 'POST', body: { useCount: 1 } })).json()
  const domain = process.env.HANDLE_DOMAIN || '.test'
  return (await call('com.atproto.server.createAccount', {
    method: 'POST',
    body: { handle: handle + domain, email: `${handle}@example.com`, password: 'bench-password-1', inviteCode: inv.code },
  })).json()
}

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null
}

function rssAnonKb(pid) {
  let kb = 0
  const pids = [pid]
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
          if (c) pids.push(Number(c))
        }
      } catch { /* gone */ }
    }
  } catch { /* gone */ }
  for (const p of pids) {
    try {
      const m = readFileSync(`/proc/${p}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)
      if (m) kb += Number(m[1])
    } catch { /* gone */ }
  }
  return kb
}

async function fanout(result) {
  const tag = Date.now().toString(36).slice(-5)
  const acc = await account(`fan${tag}`)
  const lags = []
  let received = 0
  let firstAt = 0
  let lastAt = 0
  const wsBase = base.replace(/^http/, 'ws')
  const watch = Number(process.env.WATCH_PID || 0)
  const anonBefore = watch ? rssAnonKb(watch) : 0
  const clients = []
  for (let i = 0; i < SUBS; i++) {
    const ws = new WebSocket(`${wsBase}/xrpc/com.atproto.sync.subscribeRepos`)
    ws.on('message', (data) => {
      const now = Date.now()
      const [header, body] = lexCbor.decodeAll(new Uint8Array(data))
      if (header.t !== '#commit' || body.repo !== acc.did) return
      received++
      if (!firstAt) firstAt = now
      lastAt = now
      lags.push(now - Date.parse(body.time))
    })
    clients.push(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) }))
    clients[i].ws = ws
    if (i % 50 === 49) await sleep(10)
  }
  const sockets = await Promise.all(clients).then(() => clients.map((c) => c.ws))
  await sleep(300)
  // with WATCH_PID: the server's private memory with every subscriber
  // connected and nothing sent yet, against before they connected
  if (watch) result.subscribed_anon_kb = { before: anonBefore, connected: rssAnonKb(watch) }

  const t0 = Date.now()
  let next = 0
  async function writer() {
    while (next < EVENTS) {
      next++
      await call('com.atproto.repo.createRecord', {
        method: 'POST', token: acc.accessJwt,
        body: { repo: acc.did, collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text: `fan-out ${next}`, createdAt: new Date().toISOString() } },
      })
    }
  }
  await Promise.all(Array.from({ length: WRITERS }, writer))
  const tw = Date.now()
  const want = SUBS * EVENTS
  while (received < want && Date.now() - tw < 30000) await sleep(20)
  lags.sort((a, b) => a - b)
  result.subs = SUBS
  result.events = EVENTS
  result.writes_per_s = Math.round(EVENTS / ((tw - t0) / 1000))
  result.delivered = received
  result.delivered_all = received === want
  result.delivered_per_s = Math.round(received / (Math.max(1, lastAt - t0) / 1000))
  result.lag_ms = { p50: pct(lags, 0.5), p99: pct(lags, 0.99), max: lags.at(-1) }
  for (const ws of sockets) ws.terminate()
}

async function getRepo(result) {
  const tag = Date.now().toString(36).slice(-5)
  const acc = await account(`big${tag}`)
  for (let b = 0; b * 200 < REPO_RECORDS; b++) {
    const writes = []
    for (let i = b * 200; i < Math.min(REPO_RECORDS, (b + 1) * 200); i++) {
      writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post',
        value: { $type: 'app.bsky.feed.post', text: `record ${i} of a big repo`, createdAt: new Date().toISOString() } })
    }
    await call('com.atproto.repo.applyWrites', { method: 'POST', token: acc.accessJwt, body: { repo: acc.did, writes } })
  }
  const watch = Number(process.env.WATCH_PID || 0)
  const before = watch ? rssAnonKb(watch) : 0
  let peak = before
  const sampler = watch ? setInterval(() => { peak = Math.max(peak, rssAnonKb(watch)) }, 5) : null
  const t0 = performance.now()
  const res = await call('com.atproto.sync.getRepo', { params: { did: acc.did } })
  const bytes = (await res.arrayBuffer()).byteLength
  const ms = performance.now() - t0
  if (sampler) clearInterval(sampler)
  result.repo_records = REPO_RECORDS
  result.getrepo_bytes = bytes
  result.getrepo_ms = Math.round(ms)
  if (watch) result.rss_anon_kb = { before, peak, growth: peak - before }
}

const result = { pds: process.env.BENCH_LABEL || 'ngx_pds_module', url: base }
if (SUBS > 0 && EVENTS > 0) await fanout(result)
if (REPO_RECORDS > 0) await getRepo(result)
console.log(JSON.stringify(result))
process.exit(0)
