/*
 * ngx_pds_module core: K-256 / P-256 keys (the curves, making keys,
 * exporting them) and ECDSA.  Their string forms (multikey, did:key, the
 * legacy multibase) and the curve names are in pds_didkey.c.
 */

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "pds_enc.h"
#include "pds_hash.h"
#include "pds_keys.h"
#include "pds_keys_int.h"


struct pds_key_s {
    /*
     * The OpenSSL key, built on first use (pds_key_pkey()): a K-256 private
     * key signs through libsecp256k1 and never needs it, and building it
     * costs more than the signature.  lock guards the lazy build, since
     * one key (the PLC rotation key) is shared by threads.
     */
    EVP_PKEY        *pkey;
    pthread_mutex_t  lock;
    pds_key_type_t   type;
    int              has_private;
    uint8_t          pub[PDS_KEY_PUB_LEN];
    uint8_t          pub_full[PDS_KEY_PUB_FULL_LEN];
    uint8_t          priv[PDS_KEY_PRIV_LEN];   /* when has_private */
};


#if (PDS_HAVE_SECP256K1)

/*
 * secp256k1 signing through libsecp256k1 when it is there: OpenSSL 3.0
 * has no fast code for this curve (~400 µs a signature, against ~40 µs),
 * and every repo commit is a K-256 signature.  The context is created once
 * and only read afterwards, so threads may share it.
 */
#include <secp256k1.h>

static secp256k1_context  *pds_secp_ctx;
static pthread_once_t      pds_secp_once = PTHREAD_ONCE_INIT;


static void
pds_secp_init(void)
{
    pds_secp_ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN
                                            | SECP256K1_CONTEXT_VERIFY);
}


/* the shared context, made on first use; NULL if that failed */
static const secp256k1_context *
pds_secp(void)
{
    pthread_once(&pds_secp_once, pds_secp_init);
    return pds_secp_ctx;
}


/* the uncompressed form of a point: 0 or -1 */
static int
pds_secp_full(const secp256k1_pubkey *pk, uint8_t full[65])
{
    size_t  n = 65;

    if (!secp256k1_ec_pubkey_serialize(pds_secp_ctx, full, &n, pk,
                                       SECP256K1_EC_UNCOMPRESSED)
        || n != 65)
    {
        return -1;
    }

    return 0;
}

#endif


/* the curves; pds_didkey.c reads them too (pds_keys_int.h) */
const pds_curve_t  pds_curves[] = {
    { PDS_KEY_K256, NID_secp256k1, SN_secp256k1, "ES256K",
      "EcdsaSecp256k1VerificationKey2019", 0xe7,
      { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
        0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41 } },
    { PDS_KEY_P256, NID_X9_62_prime256v1, SN_X9_62_prime256v1, "ES256",
      "EcdsaSecp256r1VerificationKey2019", 0x1200,
      { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
        0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 } }
};


const pds_curve_t *
pds_curve(pds_key_type_t type)
{
    size_t  i;

    for (i = 0; i < sizeof(pds_curves) / sizeof(pds_curves[0]); i++) {
        if (pds_curves[i].type == type) {
            return &pds_curves[i];
        }
    }

    return NULL;
}


/* big-endian 32-byte compare */
static int
pds_be_cmp(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, 32);
}


static int
pds_be_is_zero(const uint8_t *a)
{
    size_t   i;
    uint8_t  acc;

    acc = 0;
    for (i = 0; i < 32; i++) {
        acc |= a[i];
    }

    return acc == 0;
}


/* dst = a - b (a >= b), big-endian 32 bytes */
static void
pds_be_sub(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    int       i;
    unsigned  borrow, d;

    borrow = 0;
    for (i = 31; i >= 0; i--) {
        d = (unsigned) a[i] - b[i] - borrow;
        dst[i] = (uint8_t) d;
        borrow = (d >> 8) & 1;
    }
}


/* dst = a >> 1 */
static void
pds_be_half(uint8_t *dst, const uint8_t *a)
{
    int       i;
    unsigned  carry;

    carry = 0;
    for (i = 0; i < 32; i++) {
        dst[i] = (uint8_t) ((a[i] >> 1) | (carry << 7));
        carry = a[i] & 1;
    }
}


/* 1 if 1 <= v < n */
static int
pds_scalar_in_range(const pds_curve_t *c, const uint8_t *v)
{
    return !pds_be_is_zero(v) && pds_be_cmp(v, c->order) < 0;
}


int
pds_sig_is_low_s(pds_key_type_t type, const uint8_t sig[64])
{
    uint8_t             half[32];
    const pds_curve_t  *c;

    c = pds_curve(type);
    if (c == NULL) {
        return 0;
    }

    pds_be_half(half, c->order);

    return pds_be_cmp(sig + 32, half) <= 0;
}


/*
 * Builds key->pkey from the uncompressed point and, if the key has one, the
 * private scalar: 0 or -1.
 */
static int
pds_key_make_pkey(pds_key_t *key)
{
    BIGNUM             *d;
    OSSL_PARAM         *params;
    EVP_PKEY_CTX       *ctx;
    OSSL_PARAM_BLD     *bld;
    const uint8_t      *priv;
    const pds_curve_t  *c;

    c = pds_curve(key->type);
    priv = key->has_private ? key->priv : NULL;

    d = NULL;
    params = NULL;
    ctx = NULL;

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        goto failed;
    }

    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         c->group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             key->pub_full, 65))
    {
        goto failed;
    }

    if (priv) {
        d = BN_secure_new();
        if (d == NULL || BN_bin2bn(priv, 32, d) == NULL
            || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
        {
            goto failed;
        }
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        goto failed;
    }

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &key->pkey,
                             priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                             params) <= 0)
    {
        goto failed;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);

    return 0;

failed:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);

    return -1;
}


/* key->pkey, built now if it is not yet; NULL if that fails */
static EVP_PKEY *
pds_key_pkey(const pds_key_t *key)
{
    EVP_PKEY   *pkey;
    pds_key_t  *k = (pds_key_t *) key;

    pthread_mutex_lock(&k->lock);

    if (k->pkey == NULL) {
        (void) pds_key_make_pkey(k);
    }

    pkey = k->pkey;

    pthread_mutex_unlock(&k->lock);

    return pkey;
}


/*
 * A key from an uncompressed point and, optionally, the private scalar.
 * The OpenSSL key is built here too unless libsecp256k1 does all the work
 * of this one (a K-256 private key), so that a bad point fails here.
 */
static pds_key_t *
pds_key_build(const pds_curve_t *c, const uint8_t *priv,
    const uint8_t pub_full[65])
{
    pds_key_t  *key;

    key = OPENSSL_zalloc(sizeof(pds_key_t));
    if (key == NULL) {
        return NULL;
    }

    if (pthread_mutex_init(&key->lock, NULL) != 0) {
        OPENSSL_free(key);
        return NULL;
    }

    key->type = c->type;
    key->has_private = (priv != NULL);
    if (priv) {
        memcpy(key->priv, priv, PDS_KEY_PRIV_LEN);
    }
    memcpy(key->pub_full, pub_full, 65);
    key->pub[0] = (uint8_t) (0x02 | (pub_full[64] & 1));
    memcpy(key->pub + 1, pub_full + 1, 32);

#if (PDS_HAVE_SECP256K1)
    /* K-256 signs and verifies compact signatures through libsecp256k1 */
    if (c->type == PDS_KEY_K256) {
        return key;
    }
#endif

    if (pds_key_make_pkey(key) != 0) {
        pds_key_free(key);
        return NULL;
    }

    return key;
}


/*
 * Parses a SEC1 point (compressed or not; checks it is on the curve) and,
 * if priv is given, computes the point from it instead.  Writes the
 * uncompressed form.
 */
static int
pds_point(const pds_curve_t *c, const uint8_t *priv, const uint8_t *pub,
    size_t pub_len, uint8_t out[65])
{
    int        rc;
    BIGNUM    *d;
    BN_CTX    *bn;
    EC_GROUP  *group;
    EC_POINT  *pt;

    rc = -1;
    d = NULL;
    pt = NULL;

    group = EC_GROUP_new_by_curve_name(c->nid);
    bn = BN_CTX_new();
    if (group == NULL || bn == NULL) {
        goto done;
    }

    pt = EC_POINT_new(group);
    if (pt == NULL) {
        goto done;
    }

    if (priv) {
        d = BN_secure_new();
        if (d == NULL || BN_bin2bn(priv, 32, d) == NULL
            || !EC_POINT_mul(group, pt, d, NULL, NULL, bn))
        {
            goto done;
        }

    } else {
        if (!EC_POINT_oct2point(group, pt, pub, pub_len, bn)) {
            goto done;
        }
    }

    if (EC_POINT_is_at_infinity(group, pt)
        || EC_POINT_is_on_curve(group, pt, bn) != 1
        || EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED,
                              out, 65, bn) != 65)
    {
        goto done;
    }

    rc = 0;

done:

    BN_clear_free(d);
    EC_POINT_free(pt);
    EC_GROUP_free(group);
    BN_CTX_free(bn);

    return rc;
}


pds_key_t *
pds_key_from_private(pds_key_type_t type, const uint8_t *priv, size_t len)
{
    uint8_t             full[65];
    const pds_curve_t  *c;

    c = pds_curve(type);
    if (c == NULL || len != 32 || !pds_scalar_in_range(c, priv)) {
        return NULL;
    }

#if (PDS_HAVE_SECP256K1)

    /* the public point: ~20 µs here against ~500 µs through OpenSSL */
    if (c->type == PDS_KEY_K256) {
        secp256k1_pubkey  pk;

        if (pds_secp() == NULL
            || !secp256k1_ec_pubkey_create(pds_secp_ctx, &pk, priv)
            || pds_secp_full(&pk, full) != 0)
        {
            return NULL;
        }

        return pds_key_build(c, priv, full);
    }

#endif

    if (pds_point(c, priv, NULL, 0, full) != 0) {
        return NULL;
    }

    return pds_key_build(c, priv, full);
}


pds_key_t *
pds_key_generate(pds_key_type_t type)
{
    int                 i;
    uint8_t             priv[32];
    pds_key_t          *key;
    const pds_curve_t  *c;

    c = pds_curve(type);
    if (c == NULL) {
        return NULL;
    }

    for (i = 0; i < 16; i++) {
        if (pds_random(priv, sizeof(priv)) != 0) {
            break;
        }

        if (pds_scalar_in_range(c, priv)) {
            key = pds_key_from_private(type, priv, sizeof(priv));
            OPENSSL_cleanse(priv, sizeof(priv));
            return key;
        }
    }

    OPENSSL_cleanse(priv, sizeof(priv));

    return NULL;
}


pds_key_t *
pds_key_from_private_hex(pds_key_type_t type, const char *hex, size_t len)
{
    uint8_t     priv[32];
    pds_key_t  *key;

    if (len != 64 || pds_hex_decode(priv, hex, len) != 32) {
        return NULL;
    }

    key = pds_key_from_private(type, priv, sizeof(priv));
    OPENSSL_cleanse(priv, sizeof(priv));

    return key;
}


pds_key_t *
pds_key_from_public(pds_key_type_t type, const uint8_t *pub, size_t len)
{
    uint8_t             full[65];
    const pds_curve_t  *c;

    c = pds_curve(type);
    if (c == NULL) {
        return NULL;
    }

    if (!(len == 33 && (pub[0] == 0x02 || pub[0] == 0x03))
        && !(len == 65 && pub[0] == 0x04))
    {
        return NULL;
    }

#if (PDS_HAVE_SECP256K1)

    /* the point checked and decompressed without OpenSSL's EC machinery */
    if (c->type == PDS_KEY_K256) {
        secp256k1_pubkey  pk;

        if (pds_secp() == NULL
            || !secp256k1_ec_pubkey_parse(pds_secp_ctx, &pk, pub, len)
            || pds_secp_full(&pk, full) != 0)
        {
            return NULL;
        }

        return pds_key_build(c, NULL, full);
    }

#endif

    if (pds_point(c, NULL, pub, len, full) != 0) {
        return NULL;
    }

    return pds_key_build(c, NULL, full);
}


void
pds_key_free(pds_key_t *key)
{
    if (key == NULL) {
        return;
    }

    EVP_PKEY_free(key->pkey);
    pthread_mutex_destroy(&key->lock);
    OPENSSL_clear_free(key, sizeof(pds_key_t));
}


pds_key_type_t
pds_key_type(const pds_key_t *key)
{
    return key->type;
}


int
pds_key_has_private(const pds_key_t *key)
{
    return key->has_private;
}


int
pds_key_private_bytes(const pds_key_t *key, uint8_t out[32])
{
    if (!key->has_private) {
        return -1;
    }

    memcpy(out, key->priv, PDS_KEY_PRIV_LEN);

    return 0;
}


int
pds_key_private_hex(const pds_key_t *key, char out[65])
{
    uint8_t  priv[32];

    if (pds_key_private_bytes(key, priv) != 0) {
        return -1;
    }

    pds_hex_encode(out, priv, 32);
    out[64] = '\0';
    OPENSSL_cleanse(priv, sizeof(priv));

    return 0;
}


void
pds_key_public_compressed(const pds_key_t *key, uint8_t out[33])
{
    memcpy(out, key->pub, PDS_KEY_PUB_LEN);
}


void
pds_key_public_uncompressed(const pds_key_t *key, uint8_t out[65])
{
    memcpy(out, key->pub_full, PDS_KEY_PUB_FULL_LEN);
}


int
pds_key_sign_digest(const pds_key_t *key, const uint8_t digest[32],
    uint8_t sig[64])
{
    int                  rc;
    size_t               der_len;
    uint8_t              der[80], half[32];
    ECDSA_SIG           *es;
    const BIGNUM        *r, *s;
    EVP_PKEY            *pkey;
    EVP_PKEY_CTX        *ctx;
    const uint8_t       *p;
    const pds_curve_t   *c;

    if (!key->has_private) {
        return -1;
    }

#if (PDS_HAVE_SECP256K1)

    if (key->type == PDS_KEY_K256) {
        secp256k1_ecdsa_signature  ss;

        /* RFC 6979 nonces; the result is always low-S */
        if (pds_secp() == NULL
            || !secp256k1_ecdsa_sign(pds_secp_ctx, &ss, digest, key->priv,
                                     NULL, NULL)
            || !secp256k1_ecdsa_signature_serialize_compact(pds_secp_ctx,
                                                            sig, &ss))
        {
            return -1;
        }

        return 0;
    }

#endif

    rc = -1;
    es = NULL;
    c = pds_curve(key->type);

    ctx = NULL;
    pkey = pds_key_pkey(key);
    if (pkey != NULL) {
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    }

    if (ctx == NULL || EVP_PKEY_sign_init(ctx) <= 0) {
        goto done;
    }

    der_len = sizeof(der);
    if (EVP_PKEY_sign(ctx, der, &der_len, digest, 32) <= 0) {
        goto done;
    }

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (es == NULL) {
        goto done;
    }

    ECDSA_SIG_get0(es, &r, &s);

    if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
    {
        goto done;
    }

    /* low-S: s > n/2 becomes n - s */
    pds_be_half(half, c->order);
    if (pds_be_cmp(sig + 32, half) > 0) {
        pds_be_sub(sig + 32, c->order, sig + 32);
    }

    rc = 0;

done:

    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);

    return rc;
}


int
pds_key_sign(const pds_key_t *key, const uint8_t *msg, size_t len,
    uint8_t sig[64])
{
    uint8_t  digest[PDS_SHA256_LEN];

    pds_sha256(msg, len, digest);

    return pds_key_sign_digest(key, digest, sig);
}


/* DER-encodes a compact signature; returns the length or -1 */
static int
pds_sig_to_der(const uint8_t sig[64], uint8_t **der)
{
    int         n;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }

    *der = NULL;
    n = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);

    return n;
}


int
pds_key_verify_digest(const pds_key_t *key, const uint8_t digest[32],
    const uint8_t *sig, size_t sig_len, int mode)
{
    int                 n, valid;
    uint8_t            *der;
    EVP_PKEY           *pkey;
    EVP_PKEY_CTX       *ctx;
    const uint8_t      *vsig;
    const pds_curve_t  *c;

    c = pds_curve(key->type);
    der = NULL;

    if (sig_len == PDS_SIG_LEN) {
        if (!pds_scalar_in_range(c, sig) || !pds_scalar_in_range(c, sig + 32))
        {
            return 0;
        }

        if (mode == PDS_SIG_STRICT && !pds_sig_is_low_s(key->type, sig)) {
            return 0;
        }

#if (PDS_HAVE_SECP256K1)

        if (key->type == PDS_KEY_K256) {
            secp256k1_pubkey           pk;
            secp256k1_ecdsa_signature  ss;

            if (pds_secp() == NULL
                || !secp256k1_ec_pubkey_parse(pds_secp_ctx, &pk,
                                              key->pub_full, 65)
                || !secp256k1_ecdsa_signature_parse_compact(pds_secp_ctx,
                                                            &ss, sig))
            {
                return 0;
            }

            /* libsecp256k1 takes low-S only; lenient mode accepts both */
            (void) secp256k1_ecdsa_signature_normalize(pds_secp_ctx, &ss,
                                                       &ss);

            return secp256k1_ecdsa_verify(pds_secp_ctx, &ss, digest, &pk);
        }

#endif

        n = pds_sig_to_der(sig, &der);
        if (n <= 0) {
            return 0;
        }

        vsig = der;

    } else if (mode == PDS_SIG_LENIENT && sig_len > 8 && sig_len < 80) {
        /* DER; OpenSSL insists on the canonical encoding */
        vsig = sig;
        n = (int) sig_len;

    } else {
        return 0;
    }

    valid = 0;

    ctx = NULL;
    pkey = pds_key_pkey(key);
    if (pkey != NULL) {
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    }

    if (ctx != NULL && EVP_PKEY_verify_init(ctx) > 0) {
        valid = (EVP_PKEY_verify(ctx, vsig, (size_t) n, digest, 32) == 1);
    }

    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);

    return valid;
}


int
pds_key_verify(const pds_key_t *key, const uint8_t *msg, size_t len,
    const uint8_t *sig, size_t sig_len, int mode)
{
    uint8_t  digest[PDS_SHA256_LEN];

    pds_sha256(msg, len, digest);

    return pds_key_verify_digest(key, digest, sig, sig_len, mode);
}
