// The official client against our PDS: @atproto/api's AtpAgent signs in
// with a handle and password and with an app password, resumes and
// refreshes sessions, and reads describeRepo; @atproto/identity resolves
// the DID through the PLC directory back to our PDS.  Prints TAP.
//
// Environment: PDS_URL, PLC_URL, PDS_ADMIN (password).
import { AtpAgent } from '@atproto/api'
import { ok, is, done, bail } from './tap.mjs'
import { DidResolver, ensureAtpDocument } from '@atproto/identity'


const service = process.env.PDS_URL
const plcUrl = process.env.PLC_URL
const admin = process.env.PDS_ADMIN

async function main() {
  const res = await fetch(`${service}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Basic ' + Buffer.from(`admin:${admin}`).toString('base64'),
    },
    body: JSON.stringify({ useCount: 1 }),
  })
  const { code } = await res.json()
  ok(typeof code === 'string', 'an invite code')

  const agent = new AtpAgent({ service })
  const created = await agent.createAccount({
    email: 'erin@example.com',
    handle: 'erin.test',
    password: 'erin-password-1',
    inviteCode: code,
  })
  ok(created.success, 'AtpAgent.createAccount')
  const did = created.data.did
  ok(/^did:plc:/.test(did), 'a did:plc')
  is(agent.session?.handle, 'erin.test', 'the agent holds the new session')

  const login = new AtpAgent({ service })
  const session = await login.login({ identifier: 'erin.test', password: 'erin-password-1' })
  ok(session.success, 'AtpAgent.login with handle and password')
  is(login.session?.did, did, 'session DID')
  is(login.session?.email, 'erin@example.com', 'session email')
  is(login.session?.active, true, 'session active')

  const desc = await login.com.atproto.repo.describeRepo({ repo: did })
  is(desc.data.handle, 'erin.test', 'describeRepo handle')
  is(desc.data.did, did, 'describeRepo did')
  is(desc.data.handleIsCorrect, true, 'describeRepo handleIsCorrect')
  ok(Array.isArray(desc.data.collections), 'describeRepo collections')
  is(desc.data.didDoc?.id, did, 'describeRepo didDoc')

  const byHandle = await login.com.atproto.repo.describeRepo({ repo: 'erin.test' })
  is(byHandle.data.did, did, 'describeRepo by handle')

  // resume in a fresh agent with the stored tokens
  const resumed = new AtpAgent({ service })
  await resumed.resumeSession(login.session)
  is(resumed.session?.did, did, 'resumeSession')

  const gs = await resumed.com.atproto.server.getSession()
  is(gs.data.handle, 'erin.test', 'getSession after resume')

  // refresh explicitly
  const before = resumed.session.refreshJwt
  const refreshed = await resumed.com.atproto.server.refreshSession(undefined, {
    headers: { authorization: `Bearer ${before}` },
  })
  ok(refreshed.data.refreshJwt && refreshed.data.refreshJwt !== before, 'refreshSession rotates the refresh token')
  is(refreshed.data.did, did, 'refreshSession answers the account')

  // an app password logs in with a narrower scope
  const ap = await login.com.atproto.server.createAppPassword({ name: 'client' })
  ok(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/.test(ap.data.password), 'createAppPassword')
  const appAgent = new AtpAgent({ service })
  await appAgent.login({ identifier: 'erin.test', password: ap.data.password })
  is(appAgent.session?.did, did, 'login with the app password')
  let refused = null
  try {
    await appAgent.com.atproto.server.createAppPassword({ name: 'nope' })
  } catch (err) {
    refused = err
  }
  is(refused?.error, 'InvalidToken', 'an app-password session cannot create app passwords')
  const list = await appAgent.com.atproto.server.listAppPasswords()
  is(list.data.passwords.length, 1, 'but it may list them')

  const rh = await login.com.atproto.identity.resolveHandle({ handle: 'erin.test' })
  is(rh.data.did, did, 'resolveHandle')

  // the DID resolves through the PLC directory to this PDS and handle
  const resolver = new DidResolver({ plcUrl })
  const doc = await resolver.resolve(did)
  ok(doc, 'DidResolver resolves the DID')
  const data = ensureAtpDocument(doc)
  is(data.handle, 'erin.test', 'the document names the handle')
  is(data.pds, service.replace('127.0.0.1', 'localhost'), 'the document points at this PDS')
  const cred = await login.com.atproto.identity.getRecommendedDidCredentials()
  is(cred.data.verificationMethods.atproto, data.signingKey, 'the signing key matches getRecommendedDidCredentials')

  const status = await login.com.atproto.server.checkAccountStatus()
  is(status.data.validDid, true, 'checkAccountStatus: validDid')
  is(status.data.activated, true, 'checkAccountStatus: activated')
  ok(status.data.repoBlocks >= 2, 'checkAccountStatus: repo blocks counted')

  done()
}

main().catch(bail)
