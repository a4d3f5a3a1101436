/*
 * Unit tests: pds_keys (K-256 / P-256 keys, ECDSA, did:key).
 */

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "pds_enc.h"
#include "pds_keys.h"
#include "tap.h"


/* tap.h's is_str tests its argument for NULL: keep arrays out of it */
static const char *
str(const char *s)
{
    return s;
}


static const char *
type_name(pds_key_type_t t)
{
    return t == PDS_KEY_K256 ? "k256" : "p256";
}


static void
test_fixtures(void)
{
    char           path[512], mk[PDS_DID_KEY_MAX], *text;
    long           mlen, slen;
    size_t         i;
    uint8_t        msg[256], sig[128], pub1[33], pub2[33];
    json_t        *root, *e, *tags, *tag;
    size_t         j;
    pds_key_t     *key, *legacy;
    const char    *alg, *did, *mb, *comment, *suite;
    json_error_t   err;
    int            valid, strict, lenient, high_s, der;
    pds_key_type_t type;

    tap_shared_path(path, sizeof(path),
                    "interop/crypto/signature-fixtures.json");
    text = tap_slurp(path, NULL);
    root = text ? json_loads(text, 0, &err) : NULL;
    free(text);
    if (!ok(root != NULL && json_is_array(root), "load %s", path)) {
        return;
    }

    ok(json_array_size(root) >= 6, "fixtures present");

    json_array_foreach(root, i, e) {
        comment = json_string_value(json_object_get(e, "comment"));
        alg = json_string_value(json_object_get(e, "algorithm"));
        did = json_string_value(json_object_get(e, "publicKeyDid"));
        mb = json_string_value(json_object_get(e, "publicKeyMultibase"));
        suite = json_string_value(json_object_get(e, "didDocSuite"));
        valid = json_is_true(json_object_get(e, "validSignature"));
        tags = json_object_get(e, "tags");

        high_s = der = 0;
        json_array_foreach(tags, j, tag) {
            if (strcmp(json_string_value(tag), "high-s") == 0) {
                high_s = 1;
            }
            if (strcmp(json_string_value(tag), "der-encoded") == 0) {
                der = 1;
            }
        }

        type = pds_key_type_from_jwt_alg(alg);
        ok(type != 0, "[%zu] alg %s known", i, alg);
        is_int(pds_key_type_from_suite(suite), type, "[%zu] suite %s", i,
               suite);

        key = pds_key_from_did_key(did, strlen(did));
        if (!ok(key != NULL, "[%zu] parse %s", i, did)) {
            continue;
        }

        is_int(pds_key_type(key), type, "[%zu] curve from did:key", i);
        ok(!pds_key_has_private(key), "[%zu] public only", i);
        is_str(pds_key_jwt_alg(key), alg, "[%zu] jwt alg", i);

        mlen = pds_key_did_key(key, mk, sizeof(mk));
        ok(mlen == (long) strlen(did), "[%zu] did:key length", i);
        is_str(str(mk), did, "[%zu] did:key round trip", i);

        legacy = pds_key_from_legacy_multibase(type, mb, strlen(mb));
        ok(legacy != NULL, "[%zu] legacy multibase parses", i);
        if (legacy) {
            pds_key_public_compressed(key, pub1);
            pds_key_public_compressed(legacy, pub2);
            ok(memcmp(pub1, pub2, 33) == 0, "[%zu] legacy == did:key", i);
            pds_key_free(legacy);
        }

        mlen = pds_base64_decode(msg,
                   json_string_value(json_object_get(e, "messageBase64")),
                   strlen(json_string_value(json_object_get(e,
                                                       "messageBase64"))),
                   0);
        slen = pds_base64_decode(sig,
                   json_string_value(json_object_get(e, "signatureBase64")),
                   strlen(json_string_value(json_object_get(e,
                                                       "signatureBase64"))),
                   0);
        ok(mlen > 0 && slen > 0, "[%zu] decode message/signature", i);

        strict = pds_key_verify(key, msg, (size_t) mlen, sig, (size_t) slen,
                                PDS_SIG_STRICT);
        is_int(strict, valid, "[%zu] strict verify: %s", i, comment);

        strict = pds_did_key_verify(did, strlen(did), msg, (size_t) mlen,
                                    sig, (size_t) slen, PDS_SIG_STRICT);
        is_int(strict, valid, "[%zu] strict verify via did:key", i);

        if (high_s || der) {
            ok(!valid, "[%zu] tagged fixture is invalid", i);
        }

        lenient = pds_key_verify(key, msg, (size_t) mlen, sig, (size_t) slen,
                                 PDS_SIG_LENIENT);
        if (valid || high_s || der) {
            ok(lenient, "[%zu] lenient verify accepts", i);
        }

        if (high_s && slen == 64) {
            ok(!pds_sig_is_low_s(type, sig), "[%zu] fixture is high-S", i);
        }

        /* a different message never verifies */
        msg[0] ^= 1;
        ok(!pds_key_verify(key, msg, (size_t) mlen, sig, (size_t) slen,
                           PDS_SIG_LENIENT), "[%zu] tampered message fails", i);

        pds_key_free(key);
    }

    json_decref(root);
}


static void
test_w3c(void)
{
    char           path[512], got[PDS_DID_KEY_MAX];
    long           n;
    size_t         i;
    json_t        *root, *e;
    uint8_t        priv[64];
    pds_key_t     *key;
    const char    *b58, *want;
    json_error_t   err;

    tap_shared_path(path, sizeof(path), "interop/crypto/w3c_didkey_P256.json");
    root = json_load_file(path, 0, &err);
    if (!ok(root != NULL && json_array_size(root) > 0, "load %s", path)) {
        return;
    }

    json_array_foreach(root, i, e) {
        b58 = json_string_value(json_object_get(e, "privateKeyBytesBase58"));
        want = json_string_value(json_object_get(e, "publicDidKey"));

        n = pds_base58_decode(priv, sizeof(priv), b58, strlen(b58));
        is_int(n, 32, "[w3c %zu] private key is 32 bytes", i);

        key = pds_key_from_private(PDS_KEY_P256, priv, (size_t) n);
        if (!ok(key != NULL, "[w3c %zu] load private key", i)) {
            continue;
        }

        pds_key_did_key(key, got, sizeof(got));
        is_str(str(got), want, "[w3c %zu] did:key derived from private key", i);
        pds_key_free(key);
    }

    json_decref(root);
}


static void
test_curve(pds_key_type_t type)
{
    int            i, all_low;
    char           hex[65], did[PDS_DID_KEY_MAX], did2[PDS_DID_KEY_MAX];
    char           mk[PDS_MULTIKEY_MAX];
    long           n;
    uint8_t        priv[32], priv2[32], pub[33], full[65], sig[64], sig2[64];
    uint8_t        order[32], digest[32];
    pds_key_t     *key, *k2, *pubk, *other;
    const char    *name = type_name(type);
    const uint8_t  msg[] = "hello atproto";

    key = pds_key_generate(type);
    if (!ok(key != NULL, "%s: generate", name)) {
        return;
    }

    ok(pds_key_has_private(key), "%s: has private", name);
    is_int(pds_key_type(key), type, "%s: type", name);
    is_int(pds_key_private_bytes(key, priv), 0, "%s: private bytes", name);
    is_int(pds_key_private_hex(key, hex), 0, "%s: private hex", name);
    is_int(strlen(hex), 64, "%s: hex length", name);

    k2 = pds_key_from_private_hex(type, hex, 64);
    ok(k2 != NULL, "%s: load from hex", name);
    pds_key_private_bytes(k2, priv2);
    ok(memcmp(priv, priv2, 32) == 0, "%s: private round trip", name);

    n = pds_key_did_key(key, did, sizeof(did));
    pds_key_did_key(k2, did2, sizeof(did2));
    ok(n > 8, "%s: did:key %s", name, did);
    is_str(str(did2), did, "%s: same did:key after reload", name);
    ok(strncmp(did, type == PDS_KEY_K256 ? "did:key:zQ3s" : "did:key:zDna",
               12) == 0, "%s: did:key prefix", name);
    ok(pds_key_did_key(key, did2, 20) == -1, "%s: small buffer refused",
       name);

    n = pds_key_multikey(key, mk, sizeof(mk));
    is_str(str(mk), did + 8, "%s: multikey is did:key without prefix", name);
    is_int(n, (long) strlen(did) - 8, "%s: multikey length", name);

    pds_key_public_compressed(key, pub);
    pds_key_public_uncompressed(key, full);
    ok(pub[0] == 2 || pub[0] == 3, "%s: compressed prefix", name);
    ok(full[0] == 4 && memcmp(full + 1, pub + 1, 32) == 0,
       "%s: uncompressed matches", name);
    ok((pub[0] & 1) == (full[64] & 1), "%s: parity", name);

    pubk = pds_key_from_public(type, full, 65);
    ok(pubk != NULL && !pds_key_has_private(pubk),
       "%s: load uncompressed public", name);
    pds_key_did_key(pubk, did2, sizeof(did2));
    is_str(str(did2), did, "%s: same did:key from public", name);
    ok(pds_key_private_bytes(pubk, priv2) == -1, "%s: no private export",
       name);
    ok(pds_key_sign(pubk, msg, sizeof(msg), sig) == -1,
       "%s: public key cannot sign", name);

    is_int(pds_key_sign(key, msg, sizeof(msg), sig), 0, "%s: sign", name);
    ok(pds_sig_is_low_s(type, sig), "%s: low-S", name);
    ok(pds_key_verify(pubk, msg, sizeof(msg), sig, 64, PDS_SIG_STRICT),
       "%s: strict verify", name);
    ok(pds_key_verify(k2, msg, sizeof(msg), sig, 64, PDS_SIG_LENIENT),
       "%s: lenient verify", name);
    ok(pds_did_key_verify(did, strlen(did), msg, sizeof(msg), sig, 64,
                          PDS_SIG_STRICT), "%s: verify via did:key", name);
    ok(!pds_key_verify(pubk, msg, sizeof(msg) - 1, sig, 64, PDS_SIG_STRICT),
       "%s: other message fails", name);
    ok(!pds_key_verify(pubk, msg, sizeof(msg), sig, 63, PDS_SIG_LENIENT),
       "%s: short signature fails", name);

    memset(digest, 0x5a, sizeof(digest));
    is_int(pds_key_sign_digest(key, digest, sig2), 0, "%s: sign digest",
           name);
    ok(pds_key_verify_digest(pubk, digest, sig2, 64, PDS_SIG_STRICT),
       "%s: verify digest", name);

    /* make the high-S twin: s' = n - s */
    memset(order, 0, sizeof(order));
    {
        static const uint8_t  k256_n[32] = {
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
            0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
            0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41 };
        static const uint8_t  p256_n[32] = {
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
            0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51 };
        int       j;
        unsigned  borrow, d;

        memcpy(order, type == PDS_KEY_K256 ? k256_n : p256_n, 32);
        memcpy(sig2, sig, 64);
        borrow = 0;
        for (j = 31; j >= 0; j--) {
            d = (unsigned) order[j] - sig[32 + j] - borrow;
            sig2[32 + j] = (uint8_t) d;
            borrow = (d >> 8) & 1;
        }
    }
    ok(!pds_sig_is_low_s(type, sig2), "%s: twin is high-S", name);
    ok(!pds_key_verify(pubk, msg, sizeof(msg), sig2, 64, PDS_SIG_STRICT),
       "%s: strict rejects high-S", name);
    ok(pds_key_verify(pubk, msg, sizeof(msg), sig2, 64, PDS_SIG_LENIENT),
       "%s: lenient accepts high-S", name);

    /* r = 0 and s = n are never valid */
    memcpy(sig2, sig, 64);
    memset(sig2, 0, 32);
    ok(!pds_key_verify(pubk, msg, sizeof(msg), sig2, 64, PDS_SIG_LENIENT),
       "%s: r = 0 rejected", name);
    memcpy(sig2, sig, 64);
    memcpy(sig2 + 32, order, 32);
    ok(!pds_key_verify(pubk, msg, sizeof(msg), sig2, 64, PDS_SIG_LENIENT),
       "%s: s = n rejected", name);

    other = pds_key_generate(type);
    ok(other && !pds_key_verify(other, msg, sizeof(msg), sig, 64,
                                PDS_SIG_LENIENT), "%s: other key fails", name);
    pds_key_free(other);

    all_low = 1;
    for (i = 0; i < 64; i++) {
        if (pds_key_sign(key, msg, sizeof(msg), sig2) != 0
            || !pds_sig_is_low_s(type, sig2)
            || !pds_key_verify(pubk, msg, sizeof(msg), sig2, 64,
                               PDS_SIG_STRICT))
        {
            all_low = 0;
        }
    }
    ok(all_low, "%s: 64 signatures all low-S and valid", name);

    /* bad private keys */
    memset(priv2, 0, 32);
    ok(pds_key_from_private(type, priv2, 32) == NULL, "%s: zero key refused",
       name);
    ok(pds_key_from_private(type, order, 32) == NULL, "%s: d = n refused",
       name);
    ok(pds_key_from_private(type, priv, 31) == NULL, "%s: short key refused",
       name);
    ok(pds_key_from_private_hex(type, "zz", 2) == NULL, "%s: bad hex refused",
       name);

    /* bad public keys */
    memset(pub, 0, sizeof(pub));
    pub[0] = 2;
    pub[32] = 5;
    memset(full, 0x11, sizeof(full));
    full[0] = 4;
    ok(pds_key_from_public(type, full, 65) == NULL, "%s: off-curve refused",
       name);
    pds_key_public_compressed(key, pub);
    pub[0] = 5;
    ok(pds_key_from_public(type, pub, 33) == NULL, "%s: bad prefix refused",
       name);

    pds_key_free(pubk);
    pds_key_free(k2);
    pds_key_free(key);
}


static void
test_parse_errors(void)
{
    char        buf[PDS_DID_KEY_MAX];
    pds_key_t  *k, *p;

    ok(pds_key_from_did_key("did:web:example.com", 19) == NULL,
       "did:web refused");
    ok(pds_key_from_did_key("did:key:", 8) == NULL, "empty did:key refused");
    ok(pds_key_from_did_key("did:key:Q3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mC", 43)
       == NULL, "missing multibase prefix refused");
    ok(pds_key_from_did_key("did:key:z0OIl", 13) == NULL,
       "bad base58 refused");
    /* ed25519 did:key (codec 0xed) */
    ok(pds_key_from_did_key(
           "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", 56)
       == NULL, "ed25519 did:key refused");

    /* K-256 key bytes under the P-256 codec must not parse as K-256 */
    k = pds_key_generate(PDS_KEY_K256);
    p = pds_key_generate(PDS_KEY_P256);
    pds_key_did_key(k, buf, sizeof(buf));
    ok(strncmp(buf, "did:key:zQ3s", 12) == 0, "k256 did:key prefix");
    pds_key_did_key(p, buf, sizeof(buf));
    ok(strncmp(buf, "did:key:zDna", 12) == 0, "p256 did:key prefix");
    ok(pds_key_type_from_jwt_alg("ES384") == 0, "unknown alg");
    ok(pds_key_type_from_suite("Multikey") == 0, "Multikey is not a suite");
    pds_key_free(k);
    pds_key_free(p);
}


typedef struct {
    pds_key_t  *key;
    int         good;
} thread_arg_t;


static void *
thread_main(void *data)
{
    int            i;
    uint8_t        msg[32], sig[64];
    thread_arg_t  *arg = data;

    arg->good = 1;
    for (i = 0; i < 50; i++) {
        memset(msg, i, sizeof(msg));
        if (pds_key_sign(arg->key, msg, sizeof(msg), sig) != 0
            || !pds_key_verify(arg->key, msg, sizeof(msg), sig, 64,
                               PDS_SIG_STRICT))
        {
            arg->good = 0;
        }
    }

    return NULL;
}


static void
test_threads(void)
{
    int           i, good;
    pthread_t     th[4];
    pds_key_t    *key;
    thread_arg_t  args[4];

    key = pds_key_generate(PDS_KEY_K256);

    for (i = 0; i < 4; i++) {
        args[i].key = key;
        args[i].good = 0;
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }

    good = 1;
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        good &= args[i].good;
    }

    ok(good, "4 threads sign and verify with one shared key");
    pds_key_free(key);
}


int
main(void)
{
    test_fixtures();
    test_w3c();
    test_curve(PDS_KEY_K256);
    test_curve(PDS_KEY_P256);
    test_parse_errors();
    test_threads();

    return tap_done();
}
