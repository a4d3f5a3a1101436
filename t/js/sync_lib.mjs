// Helpers of the sync / firehose tests (t/js/sync_*.mjs, firehose_*.mjs):
// TAP output, XRPC calls, accounts, and a raw subscribeRepos client that
// keeps every frame (the `ws` package, as @atproto/sync uses).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const WebSocket = require('ws')
const lexCbor = require('@atproto/lex-cbor')

export { require }

let n = 0
let failed = 0

export function ok(cond, name, diag) {
  n++
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`)
  if (!cond) {
    failed++
    if (diag !== undefined) {
      console.log(`# ${String(typeof diag === 'string' ? diag : JSON.stringify(diag)).split('\n').join('\n# ')}`)
    }
  }
  return cond
}

export function is(got, want, name) {
  return ok(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
}

export function done() {
  console.log(`1..${n}`)
  process.exit(failed ? 1 : 0)
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// every test has a hard time limit
export function deadline(ms) {
  setTimeout(() => {
    ok(false, `finished within ${ms} ms`)
    done()
  }, ms).unref()
}

export async function xrpc(base, nsid, { method = 'GET', params, body, token, admin, raw } = {}) {
  const url = new URL(`${base}/xrpc/${nsid}`)
  for (const [k, v] of Object.entries(params || {})) {
    for (const x of [].concat(v)) url.searchParams.append(k, x)
  }
  const headers = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token) headers.authorization = `Bearer ${token}`
  if (admin) headers.authorization = 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64')
  const res = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  let json
  if (!raw) {
    try { json = JSON.parse(Buffer.from(bytes).toString('utf8')) } catch { /* not JSON */ }
  }
  return { status: res.status, json, bytes, headers: res.headers }
}

export async function newAccount(base, admin, handle) {
  const inv = await xrpc(base, 'com.atproto.server.createInviteCode', {
    method: 'POST', body: { useCount: 1 }, admin,
  })
  if (inv.status !== 200) throw new Error(`createInviteCode: ${inv.status}`)
  const res = await xrpc(base, 'com.atproto.server.createAccount', {
    method: 'POST',
    body: {
      handle, email: `${handle.split('.')[0]}@example.com`,
      password: `${handle}-password`, inviteCode: inv.json.code,
    },
  })
  if (res.status !== 200) throw new Error(`createAccount ${handle}: ${res.status} ${JSON.stringify(res.json)}`)
  return res.json
}

// the account's atproto signing key (did:key) from the PLC directory
export async function didKeyOf(plc, did) {
  const res = await fetch(`${plc}/${did}/data`)
  const data = await res.json()
  return data.verificationMethods.atproto
}

export function decodeFrame(bytes) {
  const [header, body] = lexCbor.decodeAll(bytes)
  return { header, body }
}

// A raw subscriber: every frame decoded, in arrival order.
export class RawSub {
  constructor(base, { cursor, paused } = {}) {
    const ws = base.replace(/^http/, 'ws')
    const q = cursor === undefined ? '' : `?cursor=${cursor}`
    this.frames = []
    this.closed = null
    this.error = null
    this.ws = new WebSocket(`${ws}/xrpc/com.atproto.sync.subscribeRepos${q}`)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve)
      this.ws.once('error', reject)
      this.ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
    this.ws.on('open', () => { if (paused) this.ws._socket.pause() })
    this.ws.on('message', (data) => {
      try {
        this.frames.push(decodeFrame(new Uint8Array(data)))
      } catch (e) {
        this.error = e
      }
    })
    this.ws.on('error', (e) => { this.error = e })
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() } })
  }

  // message frames' bodies with their type
  get events() {
    return this.frames.filter((f) => f.header.op === 1 && f.header.t !== '#info')
      .map((f) => ({ t: f.header.t, ...f.body }))
  }

  get seqs() { return this.events.map((e) => e.seq) }

  resume() { this.ws._socket.resume() }

  async waitFor(pred, ms = 10000) {
    const until = Date.now() + ms
    while (Date.now() < until) {
      if (pred(this)) return true
      await sleep(20)
    }
    return pred(this)
  }

  async waitClosed(ms = 10000) {
    return this.waitFor((s) => s.closed !== null, ms)
  }

  close() {
    if (this.closed === null) this.ws.close()
  }
}

// seqs strictly consecutive from first
export function consecutive(seqs, first) {
  return seqs.every((s, i) => s === first + i)
}
