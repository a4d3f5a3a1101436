// Cross-checks the core's crypto (through build/t/pds_crypto_cli) against
// the AT Protocol ecosystem's own npm packages: @atproto/crypto,
// @atproto/xrpc-server (service JWTs), @did-plc/lib, and Node's scrypt.
// Prints TAP.  Run from the repository root; PDS_BUILD_DIR picks the build.

import { execFileSync } from 'node:child_process'
import { createHmac, randomBytes, scryptSync, createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import path from 'node:path'

const require = createRequire(import.meta.url)
const crypto = require('@atproto/crypto')
const xrpcServer = require('@atproto/xrpc-server')
const plc = require('@did-plc/lib')

const buildDir = process.env.PDS_BUILD_DIR || 'build'
const cli = path.resolve(buildDir, 't', 'pds_crypto_cli')

let n = 0
let failed = 0

function ok(cond, name, diag) {
  n++
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`)
  if (!cond) {
    failed++
    if (diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`)
  }
}

function is(got, want, name) {
  ok(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
}

// runs the CLI; returns { out, status }
function run(...args) {
  try {
    const out = execFileSync(cli, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return { out: out.trim(), status: 0 }
  } catch (err) {
    return { out: (err.stdout || '').trim(), status: err.status }
  }
}

const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'))
const hex = (b) => Buffer.from(b).toString('hex')

const ORDERS = {
  k256: BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'),
  p256: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
}

function highS(sig, curve) {
  const s = BigInt('0x' + hex(sig.slice(32)))
  const t = (ORDERS[curve] - s).toString(16).padStart(64, '0')
  return Buffer.concat([Buffer.from(sig.slice(0, 32)), Buffer.from(t, 'hex')])
}

async function keys() {
  for (const curve of ['k256', 'p256']) {
    const Kp = curve === 'k256' ? crypto.Secp256k1Keypair : crypto.P256Keypair

    const [priv, did] = run('keygen', curve).out.split(' ')
    const kp = await Kp.import(priv)
    is(kp.did(), did, `${curve}: @atproto/crypto derives the same did:key from our private key`)
    is(run('didkey', curve, priv).out, did, `${curve}: didkey round trip`)
    const parsed = crypto.parseDidKey(did)
    is(parsed.jwtAlg, curve === 'k256' ? 'ES256K' : 'ES256', `${curve}: parseDidKey alg`)

    const msg = randomBytes(57)
    const sigC = Buffer.from(run('sign', curve, priv, hex(msg)).out, 'base64url')
    is(sigC.length, 64, `${curve}: our signature is 64 bytes`)
    ok(await crypto.verifySignature(did, msg, sigC), `${curve}: @atproto/crypto verifies our signature (strict)`)
    ok(!(await crypto.verifySignature(did, randomBytes(57), sigC)), `${curve}: ... and not for another message`)

    const sigN = await kp.sign(msg)
    const b64 = Buffer.from(sigN).toString('base64url')
    is(run('verify', 'strict', did, hex(msg), b64).out, 'valid', `${curve}: we verify @atproto/crypto's signature`)

    const hs = highS(sigN, curve).toString('base64url')
    is(run('verify', 'strict', did, hex(msg), hs).out, 'invalid', `${curve}: high-S twin rejected by strict verify`)
    is(run('verify', 'lenient', did, hex(msg), hs).out, 'valid', `${curve}: high-S twin accepted by lenient verify`)
    ok(!(await crypto.verifySignature(did, msg, highS(sigN, curve))), `${curve}: @atproto/crypto also rejects it strictly`)
    ok(await crypto.verifySignature(did, msg, highS(sigN, curve), { allowMalleableSig: true }),
      `${curve}: @atproto/crypto accepts it with allowMalleableSig`)
  }
}

function session() {
  const secret = randomBytes(24).toString('hex')
  const aud = 'did:web:pds.example.com'
  const sub = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
  const iat = Math.floor(Date.now() / 1000)

  for (const kind of ['access', 'refresh']) {
    const tok = run('session', kind, secret, aud, sub, String(iat)).out
    const [h, p, s] = tok.split('.')
    const header = b64urlJson(h)
    const payload = b64urlJson(p)
    is(JSON.stringify(header), JSON.stringify({ typ: kind === 'access' ? 'at+jwt' : 'refresh+jwt', alg: 'HS256' }),
      `${kind}: header as jose emits it`)
    const order = kind === 'access' ? ['scope', 'aud', 'sub', 'iat', 'exp'] : ['scope', 'aud', 'sub', 'jti', 'iat', 'exp']
    is(Object.keys(payload).join(','), order.join(','), `${kind}: claim order as jose's SignJWT`)
    is(payload.scope, kind === 'access' ? 'com.atproto.access' : 'com.atproto.refresh', `${kind}: scope`)
    ok(payload.aud === aud && payload.sub === sub && payload.iat === iat, `${kind}: aud, sub, iat`)
    is(payload.exp - payload.iat, kind === 'access' ? 7200 : 90 * 86400, `${kind}: lifetime`)
    if (kind === 'refresh') {
      is(Buffer.from(payload.jti, 'base64').length, 32, 'refresh: jti is base64 of 32 bytes')
      is(Buffer.from(payload.jti, 'base64').toString('base64').replace(/=+$/, ''), payload.jti, 'refresh: jti is unpadded standard base64 (as uint8arrays)')
    }
    const mac = createHmac('sha256', Buffer.from(secret)).update(`${h}.${p}`).digest('base64url')
    is(s, mac, `${kind}: HMAC-SHA256 signature matches node:crypto`)
  }

  // a token made the jose way in Node verifies in C
  const header = Buffer.from(JSON.stringify({ typ: 'at+jwt', alg: 'HS256' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify({ scope: 'com.atproto.appPass', aud, sub, iat, exp: iat + 7200 })).toString('base64url')
  const sig = createHmac('sha256', Buffer.from(secret)).update(`${header}.${payload}`).digest('base64url')
  const tok = `${header}.${payload}.${sig}`
  is(run('session-verify', 'access', secret, aud, String(iat + 1), tok).out, `ok ${sub} com.atproto.appPass`,
    'C verifies a Node-made access token')
  is(run('session-verify', 'access', secret, aud, String(iat + 7200), tok).out, 'expired', 'C reports expiry')
  is(run('session-verify', 'access', secret + 'x', aud, String(iat), tok).out, 'signature', 'C reports a bad secret')
}

async function service() {
  const aud = 'did:web:pds.example.com'
  const lxm = 'com.atproto.repo.uploadBlob'
  for (const curve of ['k256', 'p256']) {
    const Kp = curve === 'k256' ? crypto.Secp256k1Keypair : crypto.P256Keypair
    const [priv, did] = run('keygen', curve).out.split(' ')
    const iss = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
    const now = Math.floor(Date.now() / 1000)

    const tok = run('service', curve, priv, iss, aud, lxm, String(now), String(now + 60)).out
    const header = b64urlJson(tok.split('.')[0])
    is(JSON.stringify(header), JSON.stringify({ typ: 'JWT', alg: curve === 'k256' ? 'ES256K' : 'ES256' }),
      `${curve}: service header`)
    const payload = b64urlJson(tok.split('.')[1])
    is(Object.keys(payload).join(','), 'iat,iss,aud,exp,lxm,jti', `${curve}: service claim order as createServiceJwt`)
    ok(/^[0-9a-f]{32}$/.test(payload.jti), `${curve}: jti is 16 random bytes in hex`)
    let res
    try {
      res = await xrpcServer.verifyJwt(tok, aud, lxm, async () => did)
    } catch (err) {
      res = err
    }
    is(res && res.iss, iss, `${curve}: @atproto/xrpc-server verifyJwt accepts our service token`)

    const kp = await Kp.import(priv)
    const theirs = await xrpcServer.createServiceJwt({ iss, aud, lxm, keypair: kp })
    is(run('service-verify', did, aud, lxm, String(now), theirs).out, 'ok',
      `${curve}: we verify createServiceJwt's token`)
    is(run('service-verify', did, aud, 'com.atproto.other', String(now), theirs).out, 'lxm',
      `${curve}: ... and check its lxm`)
    is(run('service-verify', did, 'did:web:else', lxm, String(now), theirs).out, 'audience',
      `${curve}: ... and its aud`)
  }
}

async function didplc() {
  const [rotPriv, rotDid] = run('keygen', 'k256').out.split(' ')
  const [, signDid] = run('keygen', 'k256').out.split(' ')
  const recovery = await crypto.P256Keypair.create()

  const g = run('plc-genesis', rotPriv, signDid, 'alice.test', 'https://pds.example.com', recovery.did())
  ok(g.status === 0, 'C builds a genesis op')
  const { did, op } = JSON.parse(g.out)
  is(await plc.didForCreateOp(op), did, '@did-plc/lib derives the same DID')
  let doc
  try {
    doc = await plc.assureValidCreationOp(did, op)
  } catch (err) {
    doc = err
  }
  ok(doc && doc.did === did, '@did-plc/lib assureValidCreationOp accepts our genesis op', doc)
  is(await plc.assureValidSig([rotDid], op), rotDid, 'signed by our rotation key')
  ok(doc && doc.alsoKnownAs && doc.alsoKnownAs[0] === 'at://alice.test', 'document handle')

  const u = run('plc-update', rotPriv, JSON.stringify(op), 'alice2.test')
  ok(u.status === 0, 'C builds an update op')
  const upd = JSON.parse(u.out)
  const prevCid = await plc.getLastOpWithCid([op])
  is(upd.prev, prevCid.cid.toString(), 'update prev is the CID @did-plc/lib computes')
  is(run('plc-cid', JSON.stringify(op)).out, prevCid.cid.toString(), 'C computes the same op CID')
  let data
  try {
    data = await plc.validateOperationLog(did, [op, upd])
  } catch (err) {
    data = err
  }
  ok(data && data.alsoKnownAs && data.alsoKnownAs[0] === 'at://alice2.test',
    '@did-plc/lib validateOperationLog accepts genesis + update', data)

  const t = run('plc-tombstone', rotPriv, JSON.stringify(upd))
  const tomb = JSON.parse(t.out)
  let last
  try {
    last = await plc.validateOperationLog(did, [op, upd, tomb])
  } catch (err) {
    last = err
  }
  is(last, null, '@did-plc/lib accepts our tombstone (document gone)')

  // the other way: @did-plc/lib builds, C verifies and derives the DID
  const signer = await crypto.Secp256k1Keypair.create()
  const created = await plc.createOp({
    signingKey: signDid, handle: 'bob.test', pds: 'https://pds.example.com',
    rotationKeys: [recovery.did(), signer.did()], signer,
  })
  is(run('plc-did', JSON.stringify(created.op)).out, created.did, 'C derives the DID of a @did-plc/lib genesis op')
  is(run('plc-verify', JSON.stringify(created.op)).out, '1', 'C verifies its signature (rotation key 2)')
  const upd2 = await plc.updateHandleOp(created.op, recovery, 'bob2.test')
  is(run('plc-verify', JSON.stringify(upd2), recovery.did(), signer.did()).out, '0',
    'C verifies a P-256-signed @did-plc/lib update')
}

function passwords() {
  const pw = 'hunter2 \u00e9\u4e2d'
  const salt = randomBytes(16).toString('hex')
  const hash = scryptSync(pw, salt, 64).toString('hex')
  is(run('scrypt-verify', pw, `${salt}:${hash}`).out, 'match', 'C verifies a Node crypto.scrypt hash (reference scheme)')
  is(run('scrypt-verify', pw + '!', `${salt}:${hash}`).out, 'mismatch', 'C rejects the wrong password')

  const stored = run('scrypt-hash', pw).out
  const [s2, h2] = stored.split(':')
  ok(/^[0-9a-f]{32}$/.test(s2), 'C salt is 32 hex characters')
  is(scryptSync(pw, s2, 64).toString('hex'), h2, 'Node crypto.scrypt reproduces a C hash')

  const did = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
  const app = run('app-password').out
  ok(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/.test(app), 'app password format (base32 alphabet)')
  const appSalt = createHash('sha256').update(did).digest().subarray(0, 16).toString('hex')
  is(run('app-password-hash', did, app).out, `${appSalt}:${scryptSync(app, appSalt, 64).toString('hex')}`,
    'app password hash matches the reference scheme')
}

if (!existsSync(cli)) {
  console.log(`1..0 # SKIP ${cli} not built`)
  process.exit(0)
}

await keys()
session()
await service()
await didplc()
passwords()
console.log(`1..${n}`)
process.exit(failed ? 1 : 0)
