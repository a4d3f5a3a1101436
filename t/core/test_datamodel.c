/*
 * atproto data model: JSON <-> DAG-CBOR against the interop fixtures,
 * hand-written edge cases and a random round-trip property test.
 */

#include <jansson.h>

#include "tap.h"
#include "pds_mem.h"
#include "pds_enc.h"
#include "pds_cid.h"
#include "pds_cbor.h"
#include "pds_json.h"


static pds_arena_t  *arena;
static pds_alloc_t   A;


static json_t *
load_fixture(const char *rel)
{
    char     path[1024];
    char    *text;
    size_t   len;
    json_t  *root;

    tap_shared_path(path, sizeof(path), rel);
    text = tap_slurp(path, &len);
    if (text == NULL) {
        ok(0, "read %s", path);
        return NULL;
    }

    root = json_loadb(text, len, 0, NULL);
    free(text);

    ok(json_is_array(root), "loaded %s", rel);

    return root;
}


static void
test_fixtures(void)
{
    char          cidstr[PDS_CID_STR_SIZE], *got = cidstr;
    long          n;
    size_t        i;
    json_t       *root, *e, *j, *back;
    uint8_t      *want;
    pds_cid_t     cid;
    pds_buf_t     b, b2;
    pds_cbor_t   *tree;
    const char   *b64, *err;

    root = load_fixture("interop/data-model/data-model-fixtures.json");
    if (root == NULL) {
        return;
    }

    json_array_foreach(root, i, e) {
        j = json_object_get(e, "json");
        b64 = json_string_value(json_object_get(e, "cbor_base64"));

        want = malloc(pds_base64_dec_len(strlen(b64)));
        n = pds_base64_decode(want, b64, strlen(b64), 0);
        ok(n > 0, "fixture %zu: cbor_base64 decodes", i);

        pds_buf_init(&b, &A);
        err = pds_json_to_cbor_bytes(j, &b);
        ok(err == NULL, "fixture %zu: JSON -> CBOR (%s)", i,
           err ? err : "ok");
        ok((long) b.len == n && memcmp(b.data, want, b.len) == 0,
           "fixture %zu: CBOR bytes match exactly", i);

        pds_cid_of_cbor(&cid, b.data, b.len);
        pds_cid_format(&cid, cidstr);
        is_str(got, json_string_value(json_object_get(e, "cid")),
               "fixture %zu: CID matches", i);

        back = pds_cbor_bytes_to_json(want, (size_t) n, &err);
        ok(back != NULL && json_equal(back, j),
           "fixture %zu: CBOR -> JSON gives the original", i);
        json_decref(back);

        /* through the tree API too */
        tree = NULL;
        err = pds_json_to_cbor(j, &A, &tree);
        pds_buf_init(&b2, &A);
        ok(err == NULL && pds_cbor_encode(tree, &b2) == 0
           && b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0,
           "fixture %zu: JSON -> tree -> CBOR matches", i);
        back = tree ? pds_cbor_to_json(tree) : NULL;
        ok(back != NULL && json_equal(back, j),
           "fixture %zu: tree -> JSON gives the original", i);
        json_decref(back);

        ok(pds_json_validate_record(j) == NULL,
           "fixture %zu: validates as a record", i);

        free(want);
    }

    json_decref(root);
}


static void
test_valid_invalid(void)
{
    size_t        i;
    json_t       *root, *e, *j;
    pds_buf_t     b;
    const char   *note, *err;

    root = load_fixture("interop/data-model/data-model-valid.json");
    if (root != NULL) {
        json_array_foreach(root, i, e) {
            note = json_string_value(json_object_get(e, "note"));
            j = json_object_get(e, "json");
            err = pds_json_validate_record(j);
            ok(err == NULL, "valid: %s%s%s", note, err ? ": " : "",
               err ? err : "");

            pds_buf_init(&b, &A);
            err = pds_json_record_to_cbor_bytes(j, &b);
            ok(err == NULL && pds_cbor_validate(b.data, b.len, NULL) == 0,
               "valid: %s encodes to strict CBOR", note);
        }
        json_decref(root);
    }

    root = load_fixture("interop/data-model/data-model-invalid.json");
    if (root != NULL) {
        json_array_foreach(root, i, e) {
            note = json_string_value(json_object_get(e, "note"));
            j = json_object_get(e, "json");
            err = pds_json_validate_record(j);
            ok(err != NULL, "invalid: %s (%s)", note,
               err ? err : "ACCEPTED");

            pds_buf_init(&b, &A);
            err = pds_json_record_to_cbor_bytes(j, &b);
            ok(err != NULL && b.len == 0,
               "invalid: %s also refused by the encoder", note);
        }
        json_decref(root);
    }

    /* lexicon-valid records are all valid data model values */
    root = load_fixture("interop/lexicon/record-data-valid.json");
    if (root != NULL) {
        json_array_foreach(root, i, e) {
            note = json_string_value(json_object_get(e, "name"));
            err = pds_json_validate_record(json_object_get(e, "data"));
            ok(err == NULL, "lexicon-valid record '%s' is valid data%s%s",
               note, err ? ": " : "", err ? err : "");
        }
        json_decref(root);
    }
}


static const char *
check(const char *text)
{
    json_t       *j;
    json_error_t  jerr;
    const char   *err;

    j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        return "jansson parse failure";
    }

    err = pds_json_validate(j);
    json_decref(j);

    return err;
}


static int
cbor_of(const char *text, const char *hex)
{
    int        r;
    char      *h;
    json_t    *j;
    pds_buf_t  b;

    j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j == NULL) {
        return 0;
    }

    pds_buf_init(&b, &A);
    r = pds_json_to_cbor_bytes(j, &b) == NULL;
    json_decref(j);

    if (!r) {
        return 0;
    }

    h = pds_alloc(&A, b.len * 2 + 1);
    h[pds_hex_encode(h, b.data, b.len)] = '\0';

    if (strcmp(h, hex) != 0) {
        tap_diag("  got %s want %s", h, hex);
        return 0;
    }

    return 1;
}


#define LINK_DAG  "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
#define LINK_RAW  "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
#define LINK_PB   "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"

#define BLOB(ref, mime, size)                                                \
    "{\"$type\":\"blob\",\"ref\":{\"$link\":\"" ref "\"},"                   \
    "\"mimeType\":" mime ",\"size\":" size "}"


static void
test_edges(void)
{
    char         *deep;
    size_t        i, k;
    json_t       *j;
    const char   *err;

    static const char  *good[] = {
        "{}", "[]", "null", "true", "0", "-1", "\"\"",
        "9223372036854775807", "-9223372036854775808",
        "123.0", "-0.0", "9007199254740991.0", "-9007199254740991.0",
        "{\"$bytes\":\"\"}", "{\"$bytes\":\"AQ==\"}", "{\"$bytes\":\"AQ\"}",
        "{\"$bytes\":\"123\"}", "{\"$link\":\"" LINK_RAW "\"}",
        "{\"$type\":\"x\"}", "{\"a\":{\"$type\":\"com.example.x\"}}",
        BLOB(LINK_RAW, "\"image/png\"", "1"),
        BLOB(LINK_RAW, "\"image/png\"", "0"),
        BLOB(LINK_DAG, "\"image/png\"", "1"),
        "{\"$unknown\":1,\"$other\":{\"x\":[1]}}",
        "{\"ab\":\"x\\u0000y\"}",
        "{\"cid\":\"" LINK_DAG "\",\"mimeType\":\"image/png\"}",
    };

    static const char  *bad[] = {
        "1.5", "-0.5", "1e300", "9007199254740992.0", "[1, 2.5]",
        "{\"a\":{\"b\":[0.1]}}",
        "{\"$bytes\":\"AQ=\"}", "{\"$bytes\":\"A\"}", "{\"$bytes\":\"-_8\"}",
        "{\"$bytes\":\"AQ==AQ==\"}", "{\"$bytes\":\" AQ\"}",
        "{\"$bytes\":null}", "{\"$bytes\":\"AQ\",\"$type\":\"x\"}",
        "{\"$link\":\"\"}", "{\"$link\":null}", "{\"$link\":[]}",
        "{\"$link\":\"" LINK_PB "\"}",
        "{\"$link\":\"QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR\"}",
        "{\"$link\":\"" LINK_RAW "\",\"$type\":\"blob\"}",
        "{\"$type\":\"\"}", "{\"$type\":null}", "{\"$type\":false}",
        "{\"$type\":[\"blob\"]}", "[{\"$type\":{}}]",
        BLOB(LINK_PB, "\"image/png\"", "1"),
        BLOB(LINK_RAW, "\"\"", "1"),
        BLOB(LINK_RAW, "\"png\"", "1"),
        BLOB(LINK_RAW, "null", "1"),
        BLOB(LINK_RAW, "\"image/png\"", "-1"),
        BLOB(LINK_RAW, "\"image/png\"", "1.5"),
        BLOB(LINK_RAW, "\"image/png\"", "null"),
        "{\"$type\":\"blob\",\"ref\":\"" LINK_RAW "\","
        "\"mimeType\":\"image/png\",\"size\":1}",
        "{\"$type\":\"blob\",\"ref\":{\"$link\":\"" LINK_RAW "\"},"
        "\"mimeType\":\"image/png\",\"size\":1,\"extra\":1}",
        "{\"$type\":\"blob\",\"ref\":{\"$link\":\"" LINK_RAW "\"},"
        "\"mimeType\":\"image/png\",\"sizes\":1}",
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err = check(good[i]);
        ok(err == NULL, "accepts %s%s%s", good[i], err ? ": " : "",
           err ? err : "");
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = check(bad[i]);
        ok(err != NULL, "rejects %s (%s)", bad[i], err ? err : "ACCEPTED");
    }

    /* exact encodings */
    ok(cbor_of("123.0", "187b"), "integral real 123.0 encodes as int 123");
    ok(cbor_of("{\"$bytes\":\"AQ==\"}", "4101"), "padded $bytes");
    ok(cbor_of("{\"$bytes\":\"123\"}", "42d76d"),
       "$bytes with stray trailing bits decodes leniently");
    ok(cbor_of("{\"b\":1,\"aa\":2,\"a\":3}", "a3616103616201626161" "02"),
       "object keys sorted length-first");
    ok(cbor_of("-9223372036854775808", "3b7fffffffffffffff"),
       "INT64_MIN");
    ok(cbor_of("{\"a\":\"\\u0000\"}", "a16161" "6100"),
       "NUL inside strings kept");

    j = json_string("x");
    ok(pds_json_validate_record(j) != NULL
       && pds_json_validate_record(NULL) != NULL,
       "record must be an object");
    json_decref(j);
    j = json_array();
    ok(pds_json_validate_record(j) != NULL, "record must not be an array");
    json_decref(j);

    /* nesting limit */
    deep = malloc(2 * (PDS_CBOR_MAX_DEPTH + 1) + 1);
    for (k = PDS_CBOR_MAX_DEPTH; k <= PDS_CBOR_MAX_DEPTH + 1; k++) {
        for (i = 0; i < k; i++) {
            deep[i] = '[';
            deep[k + i] = ']';
        }
        deep[2 * k] = '\0';
        err = check(deep);
        if (k == PDS_CBOR_MAX_DEPTH) {
            ok(err == NULL, "%zu nested arrays accepted", k);
        } else {
            ok(err != NULL, "%zu nested arrays rejected (%s)", k,
               err ? err : "ACCEPTED");
        }
    }
    free(deep);
}


/* random JSON values -> CBOR -> JSON */

static uint64_t  rng_state = 0x243f6a8885a308d3ULL;

static uint64_t
rng(void)
{
    uint64_t  z;

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static json_t *
rand_json(int depth)
{
    char       s[128];
    size_t     i, n, len;
    json_t    *v, *o;
    uint8_t    bytes[48];
    pds_cid_t  cid;

    switch (rng() % (depth < 5 ? 10 : 7)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rng() & 1);
    case 2:
        if (rng() & 1) {
            return json_integer((json_int_t) (rng() % 2000) - 1000);
        }
        return json_integer((json_int_t) (int64_t) (rng() >> (rng() % 64)));
    case 3:
        len = rng() % 20;
        for (i = 0; i < len; i++) {
            s[i] = (char) (0x20 + rng() % 0x5f);
        }
        /* sprinkle in some UTF-8 */
        if (len >= 2 && (rng() & 1)) {
            s[0] = (char) 0xc3;
            s[1] = (char) 0xa9;
        }
        return json_stringn(s, len);
    case 4:
        len = rng() % sizeof(bytes);
        for (i = 0; i < len; i++) {
            bytes[i] = (uint8_t) rng();
        }
        n = pds_base64_encode(s, bytes, len, 0, 0);
        return json_pack("{s:s%}", "$bytes", s, n);
    case 5:
        pds_cid_compute(&cid, (rng() & 1) ? PDS_CID_CODEC_RAW
                                          : PDS_CID_CODEC_DAG_CBOR,
                        (const uint8_t *) &depth, sizeof(depth));
        cid.digest[0] = (uint8_t) rng();
        pds_cid_format(&cid, s);
        return json_pack("{s:s}", "$link", s);
    case 6:
        return json_string("");
    case 7:
        v = json_array();
        n = rng() % 5;
        for (i = 0; i < n; i++) {
            json_array_append_new(v, rand_json(depth + 1));
        }
        return v;
    default:
        o = json_object();
        n = rng() % 6;
        for (i = 0; i < n; i++) {
            len = 1 + rng() % 6;
            for (size_t c = 0; c < len; c++) {
                s[c] = (char) ('a' + rng() % 4);
            }
            json_object_setn_new(o, s, len, rand_json(depth + 1));
        }
        if (rng() % 4 == 0) {
            json_object_set_new(o, "$type", json_string("com.example.t"));
        }
        return o;
    }
}


static void
test_random(void)
{
    int          i, fail_enc, fail_rt, fail_text, fail_val;
    char        *text;
    json_t      *j, *back, *reparsed;
    pds_buf_t    b, b2;
    const char  *err;

    fail_enc = fail_rt = fail_text = fail_val = 0;

    for (i = 0; i < 2000; i++) {
        j = rand_json(0);

        pds_buf_init(&b, &pds_malloc_allocator);
        pds_buf_init(&b2, &pds_malloc_allocator);

        err = pds_json_to_cbor_bytes(j, &b);
        if (err != NULL) {
            tap_diag("random %d: %s", i, err);
            fail_enc++;
            goto next;
        }

        if (pds_cbor_validate(b.data, b.len, NULL) != 0) {
            fail_val++;
        }

        back = pds_cbor_bytes_to_json(b.data, b.len, &err);
        if (back == NULL || !json_equal(back, j)) {
            fail_rt++;
        }
        json_decref(back);

        /* through JSON text and back: same bytes */
        text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        reparsed = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                     NULL) : NULL;
        if (reparsed == NULL || pds_json_to_cbor_bytes(reparsed, &b2) != NULL
            || b2.len != b.len || memcmp(b2.data, b.data, b.len) != 0)
        {
            fail_text++;
        }
        json_decref(reparsed);
        free(text);

    next:
        pds_buf_free(&b);
        pds_buf_free(&b2);
        json_decref(j);
    }

    is_int(fail_enc, 0, "2000 random JSON values encode");
    is_int(fail_val, 0, "2000 random JSON values give strict CBOR");
    is_int(fail_rt, 0, "2000 random JSON values: JSON -> CBOR -> JSON equal");
    is_int(fail_text, 0, "2000 random JSON values: text round trip stable");
}


int
main(void)
{
    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    test_fixtures();
    test_valid_invalid();
    test_edges();
    test_random();

    pds_arena_destroy(arena);

    return tap_done();
}
