// A did:web identity's key and its service-auth tokens, for t/64-identity.t
// (the account whose DID document the test serves itself):
//   node t/js/service_jwt.mjs keygen                  -> {"privHex","didKey"}
//   node t/js/service_jwt.mjs sign PRIVHEX ISS AUD LXM -> the token
import { P256Keypair } from '@atproto/crypto';
import { createServiceJwt } from '@atproto/xrpc-server';

const [cmd, priv, iss, aud, lxm] = process.argv.slice(2);
if (cmd === 'keygen') {
  const kp = await P256Keypair.create({ exportable: true });
  const bytes = await kp.export();
  console.log(JSON.stringify({ privHex: Buffer.from(bytes).toString('hex'), didKey: kp.did() }));
} else if (cmd === 'sign') {
  const kp = await P256Keypair.import(Buffer.from(priv, 'hex'));
  console.log(await createServiceJwt({ iss, aud, lxm, keypair: kp }));
} else {
  console.error('usage: service_jwt.mjs keygen | sign PRIVHEX ISS AUD LXM');
  process.exit(2);
}
