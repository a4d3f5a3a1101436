// The load client of bench/scale.pl: one part of the scale benchmark
// against any PDS (ours or the reference), plain XRPC over fetch (keep-alive
// connections), on loopback, every loop bounded by a count and the whole run
// by TIMEOUT_MS.  Prints one JSON line (the figures); progress on stderr.
//
//   node scale_client.mjs records    PDS_URL PDS_ADMIN RECORDS (checkpoints
//                                    1,000 / 100,000 / RECORDS, those <= RECORDS)
//   node scale_client.mjs accounts   PDS_URL PDS_ADMIN ACCOUNTS CONCURRENCY
//
// records: one account; its repo is filled with app.bsky.feed.post records by
//   applyWrites (200 creates a call, 2 calls in flight); at each checkpoint:
//   SAMPLES createRecord calls one at a time (p50 / p99; they are the last
//   records of the checkpoint's count), getRepo (the whole CAR, read as it
//   streams; with WATCH_PID the peak RssAnon of that process tree sampled
//   every 5 ms), listRecords pages of 100 at the top and from a cursor in the
//   middle of the collection (p50 of PAGES pages each, the deep ones walked
//   one after another), and the RssAnon of WATCH_PID's tree at rest.  Before
//   the first checkpoint's samples, the createRecord rate with 8 calls in
//   flight (RATE_N calls, part of the count).
// accounts: ACCOUNTS accounts made by createAccount (no invite code: the
//   servers run with invites off), CONCURRENCY calls in flight; one timed
//   alone first.  At the first checkpoint (1,000 accounts or ACCOUNTS if
//   smaller) and at ACCOUNTS: createSession (p50 / p99 of SESSIONS calls, one
//   at a time, random accounts), resolveHandle (p50 / p99 of LOOKUPS calls
//   of random handles, one at a time), listRepos walked to the end in pages
//   of 1,000 (total time, p50 / max of a page, and the count seen).
import { readFileSync, readdirSync } from 'node:fs'

const [mode, base, admin, sizeArg, concArg] = process.argv.slice(2)
const SIZE = Number(sizeArg)
const CONC = Number(concArg || 8)
const TIMEOUT = Number(process.env.TIMEOUT_MS || 3 * 3600 * 1000)
const SAMPLES = Number(process.env.SAMPLES || 200)
const PAGES = Number(process.env.PAGES || 20)
const RATE_N = Number(process.env.RATE_N || 500)
const SESSIONS = Number(process.env.SESSIONS || 40)
const LOOKUPS = Number(process.env.LOOKUPS || 500)
const DOMAIN = process.env.HANDLE_DOMAIN || '.test'
const WATCH = Number(process.env.WATCH_PID || 0)

setTimeout(() => { console.error('scale_client: timed out'); process.exit(2) }, TIMEOUT).unref()

const log = (...a) => console.error(`[scale_client ${mode} ${new Date().toISOString().slice(11, 19)}]`, ...a)
const now = () => performance.now()

async function xrpc(method, nsid, { body, token, params, basic, raw } = {}) {
  const url = new URL(`/xrpc/${nsid}`, base)
  for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v)
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  if (basic) headers.authorization = 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64')
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  if (raw && res.ok) return res
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${nsid}: HTTP ${res.status} ${text.slice(0, 300)}`)
  return JSON.parse(text)
}

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null
}
const round = (x) => Math.round(x * 100) / 100
function stats(ms) {
  const s = [...ms].sort((a, b) => a - b)
  return { n: s.length, p50: round(pct(s, 0.5)), p99: round(pct(s, 0.99)), max: round(s.at(-1)) }
}

// RssAnon and PSS (kB) summed over a process and its descendants
function tree(pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const t of readdirSync(`/proc/${pids[i]}/task`)) {
        try {
          for (const c of readFileSync(`/proc/${pids[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
            if (c) pids.push(Number(c))
          }
        } catch { /* gone */ }
      }
    } catch { /* gone */ }
  }
  return pids
}
function rssAnonKb(pid) {
  let kb = 0
  for (const p of tree(pid)) {
    try {
      const m = readFileSync(`/proc/${p}/status`, 'utf8').match(/RssAnon:\s+(\d+)/)
      if (m) kb += Number(m[1])
    } catch { /* gone */ }
  }
  return kb
}

const post = (text) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

// ---- records ------------------------------------------------------------------

async function records() {
  const tag = Date.now().toString(36).slice(-6)
  const acc = await xrpc('POST', 'com.atproto.server.createAccount', {
    body: { handle: `rec${tag}${DOMAIN}`, email: `rec${tag}@example.com`, password: 'bench-password-1' },
  })
  const { did, accessJwt: token } = acc
  const out = { did, checkpoints: [] }
  const points = [1000, 100000, SIZE].filter((n, i, a) => n <= SIZE && a.indexOf(n) === i)
  let have = 0
  const marks = []            // [index, rkey] of every 1,000th record written
  let seedMs = 0
  let seeded = 0

  async function seedTo(target) {
    const t0 = now()
    const start = have
    let next = have
    async function writer() {
      while (next < target) {
        const from = next
        const k = Math.min(200, target - from)
        next += k
        const writes = []
        for (let i = 0; i < k; i++) {
          writes.push({ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post',
            value: post(`record ${from + i} of a big repo, a sentence of ordinary length`) })
        }
        const r = await xrpc('POST', 'com.atproto.repo.applyWrites', { token, body: { repo: did, writes } })
        marks.push([from, r.results[0].uri.split('/').pop()])
        if ((from / 200) % 250 === 0) log(`seeded ${from + k} of ${target}`)
      }
    }
    await Promise.all([writer(), writer()])
    have = target
    seedMs += now() - t0
    seeded += target - start
  }

  for (const point of points) {
    // the timed calls count toward the repo's size
    const first = out.checkpoints.length === 0
    const rateN = first ? Math.min(RATE_N, Math.max(0, point - SAMPLES)) : 0
    await seedTo(Math.max(have, point - SAMPLES - rateN))
    const cp = { records: point }
    if (rateN > 0) {
      // createRecord throughput with 8 in flight
      let k = 0
      const t0 = now()
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (k < rateN) {
          k++
          await xrpc('POST', 'com.atproto.repo.createRecord', {
            token, body: { repo: did, collection: 'app.bsky.feed.post', record: post(`rate ${k}`) },
          })
        }
      }))
      out.create_rate_c8 = Math.round(rateN / ((now() - t0) / 1000))
      have += rateN
    }
    const lat = []
    for (let i = 0; i < SAMPLES; i++) {
      const t = now()
      await xrpc('POST', 'com.atproto.repo.createRecord', {
        token, body: { repo: did, collection: 'app.bsky.feed.post', record: post(`timed sample ${i} at ${point}`) },
      })
      lat.push(now() - t)
    }
    have += SAMPLES
    cp.create_ms = stats(lat)
    cp.records = have
    await new Promise((r) => setTimeout(r, 300))
    cp.rest_anon_kb = WATCH ? rssAnonKb(WATCH) : null

    // getRepo, read as it streams
    const before = WATCH ? rssAnonKb(WATCH) : 0
    let peak = before
    const sampler = WATCH ? setInterval(() => { peak = Math.max(peak, rssAnonKb(WATCH)) }, 5) : null
    let t = now()
    const res = await xrpc('GET', 'com.atproto.sync.getRepo', { params: { did }, raw: true })
    let bytes = 0
    let firstByte = null
    for await (const chunk of res.body) {
      if (firstByte === null) firstByte = now() - t
      bytes += chunk.length
    }
    cp.getrepo_ms = Math.round(now() - t)
    cp.getrepo_first_byte_ms = round(firstByte)
    cp.getrepo_bytes = bytes
    if (sampler) {
      clearInterval(sampler)
      cp.getrepo_anon_kb = { before, peak, growth: peak - before }
    }

    // listRecords: pages at the top, then walked from the middle
    const top = []
    for (let i = 0; i < PAGES; i++) {
      t = now()
      const r = await xrpc('GET', 'com.atproto.repo.listRecords',
        { params: { repo: did, collection: 'app.bsky.feed.post', limit: '100' } })
      top.push(now() - t)
      if (r.records.length !== Math.min(100, have)) throw new Error(`listRecords gave ${r.records.length}`)
    }
    cp.list_top_ms = stats(top)
    const mid = marks.reduce((best, m) => (Math.abs(m[0] - have / 2) < Math.abs(best[0] - have / 2) ? m : best))
    let cursor = mid[1]
    const deep = []
    for (let i = 0; i < PAGES && cursor; i++) {
      t = now()
      const r = await xrpc('GET', 'com.atproto.repo.listRecords',
        { params: { repo: did, collection: 'app.bsky.feed.post', limit: '100', cursor } })
      deep.push(now() - t)
      cursor = r.cursor
      if (r.records.length < 100) break
    }
    cp.list_depth = mid[0]
    cp.list_deep_ms = stats(deep)
    out.checkpoints.push(cp)
    log(JSON.stringify(cp))
  }
  out.seed_records = seeded
  out.seed_per_s = Math.round(seeded / (seedMs / 1000))
  out.create_per_s_c1 = Math.round(1000 / out.checkpoints[0].create_ms.p50)
  return out
}

// ---- accounts -------------------------------------------------------------------

async function accounts() {
  const tag = Date.now().toString(36).slice(-5)
  const handle = (i) => `a${tag}x${i}${DOMAIN}`
  const out = { checkpoints: [] }
  let made = 0
  const create = async (i) => {
    await xrpc('POST', 'com.atproto.server.createAccount', {
      body: { handle: handle(i), email: `a${tag}x${i}@example.com`, password: `pw-${i}-bench` },
    })
  }
  // one alone (the median of 3)
  const one = []
  for (let i = 0; i < 3; i++) {
    const t = now()
    await create(made++)
    one.push(now() - t)
  }
  out.create_one_ms = stats(one).p50
  let seedMs = 0
  let seeded = 0
  async function seedTo(target) {
    const t0 = now()
    const start = made
    let next = made
    await Promise.all(Array.from({ length: CONC }, async () => {
      while (next < target) {
        const i = next++
        await create(i)
        if (i % 1000 === 999) log(`${i + 1} accounts`)
      }
    }))
    made = target
    seedMs += now() - t0
    seeded += target - start
  }
  const points = [Math.min(1000, SIZE), SIZE].filter((n, i, a) => a.indexOf(n) === i)
  const rand = (n) => Math.floor(Math.random() * n)
  for (const point of points) {
    await seedTo(point)
    const cp = { accounts: point }
    let lat = []
    for (let i = 0; i < SESSIONS; i++) {
      const k = rand(made)
      const t = now()
      await xrpc('POST', 'com.atproto.server.createSession', { body: { identifier: handle(k), password: `pw-${k}-bench` } })
      lat.push(now() - t)
    }
    cp.session_ms = stats(lat)
    lat = []
    for (let i = 0; i < LOOKUPS; i++) {
      const k = rand(made)
      const t = now()
      const r = await xrpc('GET', 'com.atproto.identity.resolveHandle', { params: { handle: handle(k) } })
      lat.push(now() - t)
      if (!r.did) throw new Error('resolveHandle: no did')
    }
    cp.resolve_ms = stats(lat)
    lat = []
    let cursor
    let seen = 0
    const t0 = now()
    for (let i = 0; i < point / 1000 + 1000; i++) {
      const t = now()
      const r = await xrpc('GET', 'com.atproto.sync.listRepos', { params: cursor ? { limit: '1000', cursor } : { limit: '1000' } })
      lat.push(now() - t)
      seen += r.repos.length
      cursor = r.cursor
      if (!cursor || r.repos.length === 0) break
    }
    cp.listrepos_walk_ms = Math.round(now() - t0)
    cp.listrepos_seen = seen
    cp.listrepos_page_ms = stats(lat)
    cp.rest_anon_kb = WATCH ? rssAnonKb(WATCH) : null
    out.checkpoints.push(cp)
    log(JSON.stringify(cp))
  }
  out.seed_accounts = seeded
  out.seed_per_s = round(seeded / (seedMs / 1000))
  out.concurrency = CONC
  return out
}

const result = mode === 'records' ? await records() : mode === 'accounts' ? await accounts() : null
if (!result) { console.error('usage: scale_client.mjs records|accounts URL ADMIN SIZE [CONCURRENCY]'); process.exit(64) }
console.log(JSON.stringify(result))
process.exit(0)
