// Registers a new did:plc at a PLC directory with the services a test
// names: a genesis operation built and signed with @did-plc/lib (a fresh
// secp256k1 key is the rotation and atproto key), POSTed to the directory,
// and the directory's document read back.  Prints the DID on one line.
//
// Environment: PLC_URL (the directory), SERVICES (JSON: {"svc":
// "http://127.0.0.1:1234", ...}; each becomes the service "#svc" with that
// endpoint).  Exits 1 with the reason on stderr if anything fails.
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'

try {
  const plcUrl = process.env.PLC_URL
  const wanted = JSON.parse(process.env.SERVICES || '{}')
  const key = await Secp256k1Keypair.create()
  const services = {}
  for (const [id, endpoint] of Object.entries(wanted)) {
    services[id] = { type: 'TestService', endpoint }
  }
  const op = await plc.signOperation({
    type: 'plc_operation',
    verificationMethods: { atproto: key.did() },
    rotationKeys: [key.did()],
    alsoKnownAs: [],
    services,
    prev: null,
  }, key)
  const did = await plc.didForCreateOp(op)
  const client = new plc.Client(plcUrl)
  await client.sendOperation(did, op)

  // the directory serves it now, with every endpoint as given
  const doc = await client.getDocument(did)
  for (const [id, endpoint] of Object.entries(wanted)) {
    const svc = (doc.service || []).find((s) => s.id === `#${id}`)
    if (!svc || svc.serviceEndpoint !== endpoint) {
      throw new Error(`the directory's document lacks #${id} at ${endpoint}: ${JSON.stringify(doc)}`)
    }
  }
  console.log(did)
} catch (err) {
  console.error(`plc_register: ${err?.stack || err}`)
  process.exit(1)
}
