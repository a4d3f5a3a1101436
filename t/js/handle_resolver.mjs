// Handles resolved by another client: @atproto/identity's HandleResolver
// (what the AppView and other services run) asks for the handles t/57 set
// up.  DNS goes to the test's DNS server (dns.setServers: Node's resolver,
// which HandleResolver uses for TXT); the HTTPS method's host names are
// looked up there too (dns.lookup answers from it), and the test CA is
// trusted through NODE_EXTRA_CA_CERTS.  Prints TAP.
//
// env: DNS (ip:port), DID, TXT_HANDLE, HTTPS_HANDLE, OTHER_HANDLE (a name
// publishing another DID), NONE_HANDLE (publishing nothing)
import dns from 'node:dns'
import { HandleResolver } from '@atproto/identity'
import { ok, is, done, bail } from './tap.mjs'

const env = process.env
dns.setServers([env.DNS])

// host names of the HTTPS method: A records from the same DNS server
const resolver = new dns.Resolver()
resolver.setServers([env.DNS])
const systemLookup = dns.lookup
dns.lookup = (host, opts, cb) => {
  if (typeof opts === 'function') { cb = opts; opts = {} }
  if (!/\.example\.test$/.test(host)) return systemLookup(host, opts, cb)
  resolver.resolve4(host, (err, addrs) => {
    if (err) return cb(err)
    if (opts && opts.all) return cb(null, addrs.map((address) => ({ address, family: 4 })))
    cb(null, addrs[0], 4)
  })
}

try {
  const hr = new HandleResolver({ timeout: 3000 })
  is(await hr.resolveDns(env.TXT_HANDLE), env.DID, `${env.TXT_HANDLE}: the DNS TXT record names the DID`)
  is(await hr.resolve(env.TXT_HANDLE), env.DID, `${env.TXT_HANDLE}: resolve() gives the DID`)
  is(await hr.resolveHttp(env.HTTPS_HANDLE), env.DID, `${env.HTTPS_HANDLE}: https://…/.well-known/atproto-did names the DID`)
  is(await hr.resolve(env.HTTPS_HANDLE), env.DID, `${env.HTTPS_HANDLE}: resolve() gives the DID`)
  const other = await hr.resolve(env.OTHER_HANDLE)
  ok(other && other !== env.DID, `${env.OTHER_HANDLE}: another DID, not the account's`, other)
  is(await hr.resolve(env.NONE_HANDLE), undefined, `${env.NONE_HANDLE}: no DID`)
} catch (err) {
  bail(err)
}
done()
