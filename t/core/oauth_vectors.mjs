// Test vectors for t/core/test_oauth.c (t/core/oauth_vectors.h), made with
// reference provider verifies DPoP proofs with) and node:crypto.
import { createRequire } from 'node:module';
import { createHash, createHmac } from 'node:crypto';
const require = createRequire('/work/ref/ref/node_modules/');
const jose = require('jose');
const iat = 1765000000;
const secret = Buffer.alloc(32, 7);
const counter = Math.floor(iat * 1000 / 60000);
const be = Buffer.alloc(8); be.writeBigUInt64BE(BigInt(counter));
const nonce = createHmac('sha256', secret).update(be).digest('base64url');
const at = 'at-token-for-ath';
const ath = createHash('sha256').update(at).digest('base64url');
const out = { iat, counter, nonce, ath, at, cases: [] };
for (const alg of ['ES256', 'ES256K']) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const jkt = await jose.calculateJwkThumbprint(jwk, 'sha256');
  const mk = (payload, hdr = {}) => new jose.SignJWT(payload)
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...hdr }).sign(privateKey);
  out.cases.push({ alg, jwk: JSON.stringify(jwk), jkt,
    plain: await mk({ iat, jti: 'j1-' + alg, htm: 'POST', htu: 'https://pds.example.com/oauth/token', nonce }),
    res: await mk({ iat, jti: 'j2-' + alg, htm: 'GET', htu: 'https://PDS.example.com:443/xrpc/./com.atproto.server.getSession?x=1', nonce, ath }),
    wrongtyp: await mk({ iat, jti: 'j3', htm: 'POST', htu: 'https://pds.example.com/oauth/token', nonce }, { typ: 'JWT' }),
  });
}
console.log(JSON.stringify(out, null, 1));
