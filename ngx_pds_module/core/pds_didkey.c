/*
 * ngx_pds_module core: the string forms of K-256 / P-256 public keys and
 * the names of their curves: the multikey ('z' + base58btc(varint codec ||
 * compressed key)), did:key, the legacy DID document publicKeyMultibase,
 * the verificationMethod suite and the JWT alg.  Keys themselves and ECDSA
 * are in pds_keys.c.
 */

#include <string.h>

#include "pds_enc.h"
#include "pds_keys.h"
#include "pds_keys_int.h"


pds_key_t *
pds_key_from_multikey(const char *s, size_t len)
{
    long                n, vlen;
    size_t              i;
    uint8_t             buf[64];
    uint64_t            codec;
    const pds_curve_t  *c;

    if (len < 2 || s[0] != 'z') {
        return NULL;
    }

    n = pds_base58_decode(buf, sizeof(buf), s + 1, len - 1);
    if (n < 0) {
        return NULL;
    }

    vlen = pds_varint_decode(buf, (size_t) n, &codec);
    if (vlen < 0) {
        return NULL;
    }

    for (i = 0; i < sizeof(pds_curves) / sizeof(pds_curves[0]); i++) {
        c = &pds_curves[i];

        if (c->codec == codec) {
            if (n - vlen != PDS_KEY_PUB_LEN) {
                return NULL;
            }

            return pds_key_from_public(c->type, buf + vlen, PDS_KEY_PUB_LEN);
        }
    }

    return NULL;
}


pds_key_t *
pds_key_from_did_key(const char *s, size_t len)
{
    if (len < 8 || memcmp(s, "did:key:", 8) != 0) {
        return NULL;
    }

    return pds_key_from_multikey(s + 8, len - 8);
}


pds_key_t *
pds_key_from_legacy_multibase(pds_key_type_t type, const char *s, size_t len)
{
    long     n;
    uint8_t  buf[80];

    if (len < 2 || s[0] != 'z') {
        return NULL;
    }

    n = pds_base58_decode(buf, sizeof(buf), s + 1, len - 1);
    if (n < 0) {
        return NULL;
    }

    return pds_key_from_public(type, buf, (size_t) n);
}


long
pds_key_multikey(const pds_key_t *key, char *dst, size_t cap)
{
    long     n;
    size_t   vlen;
    uint8_t  buf[PDS_VARINT_MAX + PDS_KEY_PUB_LEN];

    if (cap < 2) {
        return -1;
    }

    vlen = pds_varint_encode(buf, pds_curve(pds_key_type(key))->codec);
    pds_key_public_compressed(key, buf + vlen);

    dst[0] = 'z';
    n = pds_base58_encode(dst + 1, cap - 2, buf, vlen + PDS_KEY_PUB_LEN);
    if (n < 0) {
        return -1;
    }

    dst[n + 1] = '\0';

    return n + 1;
}


long
pds_key_did_key(const pds_key_t *key, char *dst, size_t cap)
{
    long  n;

    if (cap < 9) {
        return -1;
    }

    memcpy(dst, "did:key:", 8);

    n = pds_key_multikey(key, dst + 8, cap - 8);
    if (n < 0) {
        return -1;
    }

    return n + 8;
}


int
pds_did_key_verify(const char *did_key, size_t did_len, const uint8_t *msg,
    size_t len, const uint8_t *sig, size_t sig_len, int mode)
{
    int         valid;
    pds_key_t  *key;

    key = pds_key_from_did_key(did_key, did_len);
    if (key == NULL) {
        return 0;
    }

    valid = pds_key_verify(key, msg, len, sig, sig_len, mode);
    pds_key_free(key);

    return valid;
}


pds_key_type_t
pds_key_type_from_suite(const char *suite)
{
    size_t  i;

    for (i = 0; i < sizeof(pds_curves) / sizeof(pds_curves[0]); i++) {
        if (strcmp(suite, pds_curves[i].suite) == 0) {
            return pds_curves[i].type;
        }
    }

    return 0;
}


pds_key_type_t
pds_key_type_from_jwt_alg(const char *alg)
{
    size_t  i;

    for (i = 0; i < sizeof(pds_curves) / sizeof(pds_curves[0]); i++) {
        if (strcmp(alg, pds_curves[i].jwt_alg) == 0) {
            return pds_curves[i].type;
        }
    }

    return 0;
}


const char *
pds_key_jwt_alg(const pds_key_t *key)
{
    return pds_curve(pds_key_type(key))->jwt_alg;
}
