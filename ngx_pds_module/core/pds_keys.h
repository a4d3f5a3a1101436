/*
 * ngx_pds_module core: elliptic curve keys for AT Protocol.
 *
 * secp256k1 ("k256", JWT alg ES256K) and NIST P-256 ("p256", ES256) keys
 * on top of OpenSSL 3 EVP_PKEY: generation, raw 32-byte private keys (and
 * hex), compressed 33-byte public keys, the "multikey" string form
 * ('z' + base58btc(varint codec || compressed key)), did:key, the legacy
 * DID document publicKeyMultibase form, and ECDSA over SHA-256 with 64-byte
 * compact r||s signatures.
 *
 * Signing always yields low-S signatures.  Strict verification (repo
 * commits, PLC operations) accepts only 64-byte compact low-S signatures;
 * lenient verification (incoming service JWTs) also accepts high-S and
 * DER-encoded signatures, like the reference's allowMalleableSig.
 *
 * A pds_key_t is immutable once made: it may be shared by several threads
 * for signing and verifying.  No global mutable state is used.
 */

#ifndef PDS_KEYS_H
#define PDS_KEYS_H

#include <stddef.h>
#include <stdint.h>


typedef enum {
    PDS_KEY_K256 = 1,
    PDS_KEY_P256 = 2
} pds_key_type_t;


#define PDS_KEY_PRIV_LEN        32
#define PDS_KEY_PUB_LEN         33      /* compressed SEC1 point */
#define PDS_KEY_PUB_FULL_LEN    65      /* uncompressed SEC1 point */
#define PDS_SIG_LEN             64      /* compact r || s */
#define PDS_MULTIKEY_MAX        64      /* "z..." plus NUL, with room */
#define PDS_DID_KEY_MAX         72      /* "did:key:z..." plus NUL */

/* verification modes */
#define PDS_SIG_STRICT          0
#define PDS_SIG_LENIENT         1


typedef struct pds_key_s  pds_key_t;


/* All constructors return NULL on bad input or failure. */
pds_key_t *pds_key_generate(pds_key_type_t type);
/* priv: big-endian scalar, 1 <= d < n */
pds_key_t *pds_key_from_private(pds_key_type_t type, const uint8_t *priv,
    size_t len);
/* 64 hex characters (either case) */
pds_key_t *pds_key_from_private_hex(pds_key_type_t type, const char *hex,
    size_t len);
/* 33-byte compressed or 65-byte uncompressed SEC1 point, checked on curve */
pds_key_t *pds_key_from_public(pds_key_type_t type, const uint8_t *pub,
    size_t len);
/* "z..." multikey (curve taken from the multicodec) */
pds_key_t *pds_key_from_multikey(const char *s, size_t len);
/* "did:key:z..." */
pds_key_t *pds_key_from_did_key(const char *s, size_t len);
/*
 * Legacy DID document form: 'z' + base58btc of the bare (compressed or
 * uncompressed) point, curve given by the verificationMethod type.
 */
pds_key_t *pds_key_from_legacy_multibase(pds_key_type_t type, const char *s,
    size_t len);
/* Maps "EcdsaSecp256k1VerificationKey2019" / "...r1..." to a type, or 0. */
pds_key_type_t pds_key_type_from_suite(const char *suite);

void pds_key_free(pds_key_t *key);

pds_key_type_t pds_key_type(const pds_key_t *key);
int pds_key_has_private(const pds_key_t *key);
/* "ES256K" or "ES256" */
const char *pds_key_jwt_alg(const pds_key_t *key);
/* "ES256K" / "ES256" to a type, or 0 */
pds_key_type_t pds_key_type_from_jwt_alg(const char *alg);

/* Export; return 0, or -1 (no private key / failure). */
int pds_key_private_bytes(const pds_key_t *key, uint8_t out[32]);
/* writes 64 lower-case hex characters and a NUL */
int pds_key_private_hex(const pds_key_t *key, char out[65]);
void pds_key_public_compressed(const pds_key_t *key, uint8_t out[33]);
void pds_key_public_uncompressed(const pds_key_t *key, uint8_t out[65]);

/*
 * Writes the NUL-terminated multikey ("z...") or did:key string; returns
 * its length, or -1 if cap is too small.  The multikey is also the
 * publicKeyMultibase of a "Multikey" verificationMethod.
 */
long pds_key_multikey(const pds_key_t *key, char *dst, size_t cap);
long pds_key_did_key(const pds_key_t *key, char *dst, size_t cap);

/*
 * ECDSA over SHA-256(msg) (or over a given 32-byte digest), 64-byte compact
 * low-S signature.  Returns 0 or -1.
 */
int pds_key_sign(const pds_key_t *key, const uint8_t *msg, size_t len,
    uint8_t sig[64]);
int pds_key_sign_digest(const pds_key_t *key, const uint8_t digest[32],
    uint8_t sig[64]);

/* Returns 1 if the signature is valid in the given mode, 0 otherwise. */
int pds_key_verify(const pds_key_t *key, const uint8_t *msg, size_t len,
    const uint8_t *sig, size_t sig_len, int mode);
int pds_key_verify_digest(const pds_key_t *key, const uint8_t digest[32],
    const uint8_t *sig, size_t sig_len, int mode);
/* Same, with the public key given as "did:key:..." */
int pds_did_key_verify(const char *did_key, size_t did_len,
    const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len,
    int mode);

/* 1 if s <= n/2 for the curve (sig is 64-byte compact), else 0 */
int pds_sig_is_low_s(pds_key_type_t type, const uint8_t sig[64]);

#endif /* PDS_KEYS_H */
