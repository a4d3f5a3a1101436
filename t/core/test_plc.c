/*
 * Unit tests: pds_plc (did:plc genesis, update and tombstone operations).
 */

#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "pds_cbor.h"
#include "pds_cid.h"
#include "pds_enc.h"
#include "pds_keys.h"
#include "pds_plc.h"
#include "tap.h"


static const char *
str(const char *s)
{
    return s;
}


static const char *
jstr(const json_t *o, const char *path1, const char *path2)
{
    const json_t  *v;

    v = json_object_get(o, path1);
    if (path2 != NULL) {
        v = json_object_get(v, path2);
    }

    return json_string_value(v);
}


static int
is_b32(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7'))) {
            return 0;
        }
    }

    return 1;
}


int
main(void)
{
    char                rot1[PDS_DID_KEY_MAX], rot2[PDS_DID_KEY_MAX];
    char                sign[PDS_DID_KEY_MAX], sign2[PDS_DID_KEY_MAX];
    char                did[PDS_PLC_DID_LEN + 1], did2[PDS_PLC_DID_LEN + 1];
    char                cid[PDS_CID_STR_SIZE], b32[64], *text;
    long                n;
    size_t              i;
    json_t             *op, *op2, *upd, *tomb, *changes, *legacy;
    uint8_t             digest[32], sig[64];
    pds_key_t          *k_rot1, *k_rot2, *k_sign, *k_sign2, *k_other;
    pds_buf_t           b, bu;
    pds_cid_t           c;
    pds_cbor_t         *tree;
    pds_arena_t        *arena;
    pds_alloc_t         a;
    const char         *keys[6], *s;
    pds_plc_params_t    p;

    (void) tap_shared_path;
    (void) tap_slurp;

    arena = pds_arena_create();
    a = pds_arena_allocator(arena);

    k_rot1 = pds_key_generate(PDS_KEY_K256);
    k_rot2 = pds_key_generate(PDS_KEY_P256);
    k_sign = pds_key_generate(PDS_KEY_K256);
    k_sign2 = pds_key_generate(PDS_KEY_K256);
    k_other = pds_key_generate(PDS_KEY_K256);
    pds_key_did_key(k_rot1, rot1, sizeof(rot1));
    pds_key_did_key(k_rot2, rot2, sizeof(rot2));
    pds_key_did_key(k_sign, sign, sizeof(sign));
    pds_key_did_key(k_sign2, sign2, sizeof(sign2));

    /* genesis */
    keys[0] = rot2;
    keys[1] = rot1;
    p.rotation_keys = keys;
    p.n_rotation_keys = 2;
    p.signing_key = sign;
    p.handle = "alice.pds.example.com";
    p.pds_endpoint = "https://pds.example.com";

    op = pds_plc_op_new(&p, NULL);
    if (!ok(op != NULL, "genesis op built")) {
        return tap_done();
    }

    is_str(jstr(op, "type", NULL), "plc_operation", "type");
    ok(json_is_null(json_object_get(op, "prev")), "prev is null");
    is_str(json_string_value(json_array_get(json_object_get(op,
                                            "rotationKeys"), 0)), rot2,
           "rotation key order kept");
    is_str(jstr(op, "verificationMethods", "atproto"), sign,
           "verificationMethods.atproto");
    is_str(json_string_value(json_array_get(json_object_get(op,
                                            "alsoKnownAs"), 0)),
           "at://alice.pds.example.com", "alsoKnownAs gets at://");
    is_str(jstr(json_object_get(op, "services"), "atproto_pds", "type"),
           "AtprotoPersonalDataServer", "service type");
    is_str(jstr(json_object_get(op, "services"), "atproto_pds", "endpoint"),
           "https://pds.example.com", "service endpoint");
    ok(json_object_get(op, "sig") == NULL, "unsigned");
    ok(pds_plc_did(op, did) == -1, "no DID for an unsigned op");

    /* the unsigned DAG-CBOR: a canonical 6-key map */
    pds_buf_init(&bu, &a);
    is_int(pds_plc_op_cbor(op, 1, &bu), 0, "unsigned op encodes");
    tree = NULL;
    is_int(pds_cbor_decode(bu.data, bu.len, &a, &tree), 0,
           "encoding is strict DAG-CBOR");
    ok(tree && tree->type == PDS_CBOR_MAP && tree->u.map.len == 6,
       "6 fields");
    ok(tree && pds_cbor_map_get(tree, "prev")
       && pds_cbor_map_get(tree, "prev")->type == PDS_CBOR_NULL,
       "prev encodes as CBOR null");

    is_int(pds_plc_sign(op, k_rot1), 0, "sign genesis with rotation key 2");
    s = jstr(op, "sig", NULL);
    ok(s && strlen(s) == 86 && strchr(s, '=') == NULL,
       "sig is unpadded base64url of 64 bytes");
    n = pds_base64_decode(sig, s, strlen(s), 1);
    is_int(n, 64, "sig decodes");
    ok(pds_sig_is_low_s(PDS_KEY_K256, sig), "sig is low-S");
    ok(pds_key_verify(k_rot1, bu.data, bu.len, sig, 64, PDS_SIG_STRICT),
       "sig is over the unsigned DAG-CBOR");

    is_int(pds_plc_verify(op, NULL, 0), 1, "verify: signed by rotationKeys[1]");
    keys[2] = sign;
    is_int(pds_plc_verify(op, keys + 2, 1), -1, "not by the signing key");

    /* the DID */
    is_int(pds_plc_did(op, did), 0, "derive DID");
    is_int(strlen(did), 32, "DID length");
    ok(strncmp(did, "did:plc:", 8) == 0 && is_b32(did + 8, 24),
       "did:plc: + 24 base32 characters");
    pds_buf_init(&b, &a);
    pds_plc_op_cbor(op, 0, &b);
    SHA256(b.data, b.len, digest);
    b32[pds_base32_encode(b32, digest, 32)] = '\0';
    ok(strncmp(did + 8, b32, 24) == 0, "DID = sha256 of signed op, base32");
    is_int(pds_cbor_decode(b.data, b.len, &a, &tree), 0,
           "signed op is strict DAG-CBOR");
    ok(tree->u.map.len == 7, "7 fields with sig");

    is_int(pds_plc_op_cid(op, &c), 0, "op CID");
    pds_cid_format(&c, cid);
    ok(strncmp(cid, "bafyrei", 7) == 0, "CID is dag-cbor sha256: %s", cid);
    {
        pds_cid_t  c2;

        pds_cid_of_cbor(&c2, b.data, b.len);
        ok(pds_cid_equal(&c, &c2), "CID of the signed DAG-CBOR");
    }

    /*
     * The DID depends on the signature: the same op signed by another
     * rotation key gives another DID (signatures may be deterministic,
     * RFC 6979, so signing again with the same key may not change it).
     */
    op2 = json_deep_copy(op);
    pds_plc_sign(op2, k_rot2);
    pds_plc_did(op2, did2);
    ok(strcmp(did, did2) != 0, "DID depends on the signature");
    json_decref(op2);

    /* JSON text for the directory */
    text = json_dumps(op, JSON_COMPACT);
    ok(text && strstr(text, "\"prev\":null") && strstr(text, "\"sig\":\""),
       "JSON form carries prev null and sig");
    free(text);

    /* tampering */
    op2 = json_deep_copy(op);
    json_object_set_new(op2, "alsoKnownAs", json_pack("[s]", "at://eve.test"));
    is_int(pds_plc_verify(op2, NULL, 0), -1, "tampered op fails");
    json_decref(op2);

    op2 = json_deep_copy(op);
    json_object_set_new(op2, "sig", json_string("AAAA"));
    is_int(pds_plc_verify(op2, NULL, 0), -1, "short sig fails");
    s = jstr(op, "sig", NULL);
    {
        char  padded[100];

        snprintf(padded, sizeof(padded), "%s==", s);
        json_object_set_new(op2, "sig", json_string(padded));
        is_int(pds_plc_verify(op2, NULL, 0), -1, "padded sig fails");
    }
    json_decref(op2);

    /* update: new handle and PDS, signing key kept */
    p.rotation_keys = NULL;
    p.n_rotation_keys = 0;
    p.signing_key = NULL;
    p.handle = "alice2.example.org";
    p.pds_endpoint = "pds2.example.org";
    upd = pds_plc_update_op(op, &p);
    ok(upd != NULL, "update op built");
    is_str(jstr(upd, "prev", NULL), cid, "update prev = CID of genesis");
    is_str(json_string_value(json_array_get(json_object_get(upd,
                                            "alsoKnownAs"), 0)),
           "at://alice2.example.org", "handle replaced");
    is_int(json_array_size(json_object_get(upd, "alsoKnownAs")), 1,
           "one alsoKnownAs");
    is_str(jstr(json_object_get(upd, "services"), "atproto_pds", "endpoint"),
           "https://pds2.example.org", "endpoint replaced, https:// added");
    is_str(jstr(upd, "verificationMethods", "atproto"), sign,
           "signing key kept");
    is_int(json_array_size(json_object_get(upd, "rotationKeys")), 2,
           "rotation keys kept");
    ok(json_object_get(upd, "sig") == NULL, "update is unsigned");
    is_int(pds_plc_sign(upd, k_rot2), 0, "sign update with P-256 key");
    keys[0] = rot2;
    keys[1] = rot1;
    is_int(pds_plc_verify(upd, keys, 2), 0,
           "update verifies with the previous rotation keys");
    ok(pds_plc_did(upd, did2) == -1, "no DID from a non-genesis op");

    /* update from JSON changes (signPlcOperation) */
    changes = json_pack("{s:{s:s}, s:[s]}", "verificationMethods", "atproto",
                        sign2, "rotationKeys", rot1);
    op2 = pds_plc_update_op_json(upd, changes);
    ok(op2 != NULL, "update from JSON changes");
    is_str(jstr(op2, "verificationMethods", "atproto"), sign2,
           "verificationMethods replaced");
    is_int(json_array_size(json_object_get(op2, "rotationKeys")), 1,
           "rotationKeys replaced");
    is_str(jstr(json_object_get(op2, "services"), "atproto_pds", "endpoint"),
           "https://pds2.example.org", "services kept");
    pds_plc_op_cid_str(upd, cid);
    is_str(jstr(op2, "prev", NULL), cid, "prev = CID of the update");
    pds_plc_sign(op2, k_rot1);
    keys[0] = rot2;
    keys[1] = rot1;
    is_int(pds_plc_verify(op2, keys, 2), 1, "verifies by rotation key 2");
    json_decref(changes);
    changes = json_pack("{s:s}", "rotationKeys", "bad");
    ok(pds_plc_update_op_json(upd, changes) == NULL,
       "bad change type refused");
    json_decref(changes);

    /* update of the signing key via params */
    p.handle = NULL;
    p.pds_endpoint = NULL;
    p.signing_key = sign2;
    json_decref(op2);
    op2 = pds_plc_update_op(upd, &p);
    ok(op2 && strcmp(jstr(op2, "verificationMethods", "atproto"), sign2) == 0
       && strcmp(json_string_value(json_array_get(json_object_get(op2,
                                      "alsoKnownAs"), 0)),
                 "at://alice2.example.org") == 0,
       "signing key replaced, handle kept");
    json_decref(op2);

    /* tombstone */
    tomb = pds_plc_tombstone_new(upd);
    ok(tomb != NULL, "tombstone built");
    is_str(jstr(tomb, "type", NULL), "plc_tombstone", "tombstone type");
    pds_plc_op_cid_str(upd, cid);
    is_str(jstr(tomb, "prev", NULL), cid, "tombstone prev");
    is_int(json_object_size(tomb), 2, "tombstone has type and prev only");
    pds_plc_sign(tomb, k_rot1);
    is_int(json_object_size(tomb), 3, "signed tombstone has sig");
    is_int(pds_plc_verify(tomb, keys, 2), 1, "tombstone verifies");
    keys[0] = sign2;
    is_int(pds_plc_verify(tomb, keys, 1), -1, "not by another key");
    ok(pds_plc_update_op(tomb, &p) == NULL, "no update after a tombstone");

    /* legacy create op normalization */
    legacy = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "type", "create",
                       "signingKey", sign, "recoveryKey", rot1,
                       "handle", "bob.test", "service", "https://pds.bob",
                       "prev");
    pds_plc_sign(legacy, k_rot1);
    is_int(pds_plc_verify(legacy, NULL, 0), 0,
           "legacy create op verifies by its recovery key");
    p.signing_key = NULL;
    p.handle = "bob2.test";
    op2 = pds_plc_update_op(legacy, &p);
    ok(op2 && strcmp(jstr(op2, "type", NULL), "plc_operation") == 0
       && json_array_size(json_object_get(op2, "rotationKeys")) == 2
       && strcmp(json_string_value(json_array_get(json_object_get(op2,
                                      "rotationKeys"), 0)), rot1) == 0
       && strcmp(jstr(op2, "verificationMethods", "atproto"), sign) == 0,
       "legacy op normalized: rotationKeys [recovery, signing]");
    json_decref(op2);
    json_decref(legacy);

    /* bad parameters */
    p.pds_endpoint = "https://pds.example.com";
    p.signing_key = sign;
    p.handle = "x.test";
    for (i = 0; i < 6; i++) {
        keys[i] = rot1;
    }
    p.rotation_keys = keys;
    p.n_rotation_keys = 2;
    ok(pds_plc_op_new(&p, NULL) == NULL, "duplicate rotation keys refused");
    keys[1] = rot2;
    keys[2] = sign;
    keys[3] = sign2;
    keys[4] = "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc";
    pds_key_did_key(k_other, rot1, sizeof(rot1));
    keys[5] = rot1;
    p.n_rotation_keys = 6;
    ok(pds_plc_op_new(&p, NULL) == NULL, "six rotation keys refused");
    p.n_rotation_keys = 5;
    op2 = pds_plc_op_new(&p, NULL);
    ok(op2 != NULL, "five rotation keys accepted");
    json_decref(op2);
    p.n_rotation_keys = 0;
    ok(pds_plc_op_new(&p, NULL) == NULL, "no rotation keys refused");
    keys[0] = "did:key:zBad";
    p.n_rotation_keys = 1;
    ok(pds_plc_op_new(&p, NULL) == NULL, "bad did:key refused");
    keys[0] = rot2;
    p.signing_key = "did:web:example.com";
    ok(pds_plc_op_new(&p, NULL) == NULL, "bad signing key refused");
    p.signing_key = sign;
    pds_plc_op_cid_str(tomb, cid);
    op2 = pds_plc_op_new(&p, cid);
    ok(op2 && json_is_string(json_object_get(op2, "prev")),
       "explicit prev kept");
    json_decref(op2);

    json_decref(tomb);
    json_decref(upd);
    json_decref(op);
    pds_key_free(k_rot1);
    pds_key_free(k_rot2);
    pds_key_free(k_sign);
    pds_key_free(k_sign2);
    pds_key_free(k_other);
    pds_arena_destroy(arena);

    (void) str;

    return tap_done();
}
