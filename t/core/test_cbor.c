/*
 * DAG-CBOR: strict decoder, canonical encoder, round trips.
 */

#include <stdint.h>

#include "tap.h"
#include "pds_mem.h"
#include "pds_enc.h"
#include "pds_cid.h"
#include "pds_cbor.h"


static pds_arena_t  *arena;
static pds_alloc_t   A;


static size_t
unhex(uint8_t *dst, const char *hex)
{
    long  n;

    n = pds_hex_decode(dst, hex, strlen(hex));
    if (n < 0) {
        tap_diag("bad hex in test: %s", hex);
        exit(2);
    }

    return (size_t) n;
}


static int
decode_hex(const char *hex)
{
    int          rc;
    size_t       n;
    uint8_t      buf[4096];
    pds_cbor_t  *v;

    n = unhex(buf, hex);
    rc = pds_cbor_decode(buf, n, &A, &v);

    /* the validator must agree with the decoder */
    if (pds_cbor_validate(buf, n, NULL) != rc) {
        tap_diag("validate and decode disagree on %s", hex);
        return 999;
    }

    return rc;
}


static int
encodes_back(const char *hex)
{
    int          ok;
    size_t       n;
    uint8_t      buf[4096];
    pds_buf_t    out;
    pds_cbor_t  *v;

    n = unhex(buf, hex);
    if (pds_cbor_decode(buf, n, &A, &v) != 0) {
        return 0;
    }

    pds_buf_init(&out, &A);
    ok = pds_cbor_encode(v, &out) == 0 && out.len == n
         && memcmp(out.data, buf, n) == 0;

    return ok;
}


static void
test_rejects(void)
{
    static const struct {
        const char  *hex;
        int          rc;
        const char  *what;
    } cases[] = {
        { "a2616201616102", PDS_CBOR_EKEYORDER, "unsorted keys" },
        { "a26161016162", PDS_CBOR_ETRUNC, "truncated map" },
        { "a262616101616202", PDS_CBOR_EKEYORDER,
          "keys sorted bytewise but not length-first" },
        { "a2616101616102", PDS_CBOR_EKEYDUP, "duplicate keys" },
        { "a1616101a1616102", PDS_CBOR_ETRAILING, "two maps" },
        { "a10102", PDS_CBOR_EKEYTYPE, "integer key" },
        { "a1410102", PDS_CBOR_EKEYTYPE, "bytes key" },
        { "1817", PDS_CBOR_ENONCANON, "23 in one extra byte" },
        { "190017", PDS_CBOR_ENONCANON, "23 in two bytes" },
        { "1900ff", PDS_CBOR_ENONCANON, "255 in two bytes" },
        { "1a0000ffff", PDS_CBOR_ENONCANON, "65535 in four bytes" },
        { "1b00000000ffffffff", PDS_CBOR_ENONCANON, "2^32-1 in eight" },
        { "3800", PDS_CBOR_ENONCANON, "-1 in one extra byte" },
        { "780161", PDS_CBOR_ENONCANON, "text length not shortest" },
        { "5800", PDS_CBOR_ENONCANON, "bytes length not shortest" },
        { "9800", PDS_CBOR_ENONCANON, "array length not shortest" },
        { "b800", PDS_CBOR_ENONCANON, "map length not shortest" },
        { "9fff", PDS_CBOR_EINDEF, "indefinite array" },
        { "bfff", PDS_CBOR_EINDEF, "indefinite map" },
        { "5f4101ff", PDS_CBOR_EINDEF, "indefinite bytes" },
        { "7f6161ff", PDS_CBOR_EINDEF, "indefinite text" },
        { "ff", PDS_CBOR_EINDEF, "lone break" },
        { "f90000", PDS_CBOR_EFLOAT, "half float" },
        { "fa3fc00000", PDS_CBOR_EFLOAT, "single float" },
        { "fb3ff0000000000000", PDS_CBOR_EFLOAT, "double float 1.0" },
        { "a16161fb4000000000000000", PDS_CBOR_EFLOAT, "float in map" },
        { "f7", PDS_CBOR_ESIMPLE, "undefined" },
        { "e0", PDS_CBOR_ESIMPLE, "simple 0" },
        { "f820", PDS_CBOR_ESIMPLE, "simple 32" },
        { "fc", PDS_CBOR_EMALFORMED, "reserved major 7 info" },
        { "1c", PDS_CBOR_EMALFORMED, "reserved additional info 28" },
        { "5d", PDS_CBOR_EMALFORMED, "reserved additional info 29" },
        { "c074323031332d30332d32315432303a30343a30305a", PDS_CBOR_ETAG,
          "tag 0 (date)" },
        { "c11a514b67b0", PDS_CBOR_ETAG, "tag 1 (epoch)" },
        { "d82b4100", PDS_CBOR_ETAG, "tag 43" },
        { "d9002a4100", PDS_CBOR_ENONCANON, "tag 42 not shortest" },
        { "d82a6161", PDS_CBOR_ECID, "tag 42 on text" },
        { "d82a40", PDS_CBOR_ECID, "tag 42 on empty bytes" },
        { "d82a5824" "01711220"
          "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0",
          PDS_CBOR_ECID, "tag 42 without 0x00 prefix" },
        { "d82a5825" "0001701220"
          "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0",
          PDS_CBOR_ECID, "CIDv1 with the dag-pb codec" },
        { "d82a5825" "0001711320"
          "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0",
          PDS_CBOR_ECID, "CID with sha512 code" },
        { "d82a5824" "00017112"
          "1f65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239",
          PDS_CBOR_ECID, "CID with short digest length" },
        { "d82a5826" "0001711220"
          "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0"
          "00", PDS_CBOR_ECID, "CID with a trailing byte" },
        { "d82a5823" "00122065062a5a5a00fc16d73c6944237ccbc15b1c4a72344893"
          "36891d091741a239d0", PDS_CBOR_ECID, "CIDv0 in tag 42" },
        { "62c328", PDS_CBOR_EUTF8, "bad UTF-8 continuation" },
        { "62c080", PDS_CBOR_EUTF8, "overlong NUL" },
        { "63eda080", PDS_CBOR_EUTF8, "UTF-16 surrogate" },
        { "64f4908080", PDS_CBOR_EUTF8, "above U+10FFFF" },
        { "61ff", PDS_CBOR_EUTF8, "0xff byte" },
        { "a162c3280a", PDS_CBOR_EUTF8, "bad UTF-8 in a key" },
        { "1b8000000000000000", PDS_CBOR_ERANGE, "2^63" },
        { "3b8000000000000000", PDS_CBOR_ERANGE, "-2^63-1" },
        { "1bffffffffffffffff", PDS_CBOR_ERANGE, "2^64-1" },
        { "f6f6", PDS_CBOR_ETRAILING, "trailing bytes" },
        { "", PDS_CBOR_ETRUNC, "empty input" },
        { "6261", PDS_CBOR_ETRUNC, "truncated text" },
        { "8201", PDS_CBOR_ETRUNC, "truncated array" },
        { "a1616161", PDS_CBOR_ETRUNC, "truncated map value" },
        { "1a0001", PDS_CBOR_ETRUNC, "truncated integer" },
        { "5bffffffffffffffff", PDS_CBOR_ETRUNC, "huge bytes length" },
        { "9b0000000100000000", PDS_CBOR_ETRUNC, "huge array length" },
        { "bb0000000100000000", PDS_CBOR_ETRUNC, "huge map length" },
    };

    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(decode_hex(cases[i].hex), cases[i].rc, "rejects %s (%s)",
               cases[i].what, pds_cbor_strerror(cases[i].rc));
    }
}


static void
test_accepts(void)
{
    static const char  *good[] = {
        "00", "17", "1818", "18ff", "190100", "19ffff", "1a00010000",
        "1affffffff", "1b0000000100000000", "1b7fffffffffffffff",
        "20", "37", "3818", "3bffffffffffffffff" /* rejected below */,
        "3b7fffffffffffffff", "f4", "f5", "f6", "40", "60", "80", "a0",
        "6449455446", "62c3bc", "64f0908d88", "4401020304",
        "a261610161620a", "a2616202626161 01",
        "83010203", "a1616183f6f5f4",
        "d82a5825" "0001711220"
        "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0",
        "d82a5825" "0001551220"
        "65062a5a5a00fc16d73c6944237ccbc15b1c4a7234489336891d091741a239d0",
    };

    int      rc;
    char     hex[256];
    size_t   i, j, k;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        /* strip the spaces used for readability */
        for (j = 0, k = 0; good[i][j] && k < sizeof(hex) - 1; j++) {
            if (good[i][j] != ' ') {
                hex[k++] = good[i][j];
            }
        }
        hex[k] = '\0';

        rc = decode_hex(hex);

        if (strcmp(hex, "3bffffffffffffffff") == 0) {
            is_int(rc, PDS_CBOR_ERANGE, "rejects -2^64");
            continue;
        }

        is_int(rc, 0, "accepts %s", hex);
        ok(encodes_back(hex), "re-encodes %s identically", hex);
    }
}


static void
test_depth(void)
{
    int          rc;
    size_t       i, used;
    uint8_t      buf[PDS_CBOR_MAX_DEPTH + 8];
    pds_buf_t    out;
    pds_cbor_t  *v, *cur, *next;

    for (i = 0; i < PDS_CBOR_MAX_DEPTH; i++) {
        buf[i] = 0x81;
    }
    buf[PDS_CBOR_MAX_DEPTH] = 0xf6;

    rc = pds_cbor_decode(buf, PDS_CBOR_MAX_DEPTH + 1, &A, &v);
    is_int(rc, 0, "accepts %d nested arrays", PDS_CBOR_MAX_DEPTH);

    for (i = 0; i <= PDS_CBOR_MAX_DEPTH; i++) {
        buf[i] = 0x81;
    }
    buf[PDS_CBOR_MAX_DEPTH + 1] = 0xf6;

    rc = pds_cbor_decode(buf, PDS_CBOR_MAX_DEPTH + 2, &A, &v);
    is_int(rc, PDS_CBOR_EDEPTH, "rejects %d nested arrays",
           PDS_CBOR_MAX_DEPTH + 1);

    buf[0] = 0xa1;
    buf[1] = 0x61;
    buf[2] = 'a';
    for (i = 3; i < 3 + PDS_CBOR_MAX_DEPTH; i++) {
        buf[i] = 0x81;
    }
    buf[i] = 0x01;
    rc = pds_cbor_validate(buf, i + 1, NULL);
    is_int(rc, PDS_CBOR_EDEPTH, "depth counts maps and arrays");

    /* prefix decoding */
    buf[0] = 0x82;
    buf[1] = 0x01;
    buf[2] = 0x02;
    buf[3] = 0xa0;
    rc = pds_cbor_decode_prefix(buf, 4, &A, &v, &used);
    ok(rc == 0 && used == 3 && v->type == PDS_CBOR_ARRAY
       && v->u.array.len == 2, "decode_prefix reads one item");
    rc = pds_cbor_validate(buf + used, 4 - used, &used);
    ok(rc == 0 && used == 1, "validate with used reads the second item");

    /* the encoder refuses trees deeper than the decoder accepts */
    v = pds_cbor_new_array(&A);
    cur = v;
    for (i = 0; i < PDS_CBOR_MAX_DEPTH; i++) {
        next = pds_cbor_new_array(&A);
        pds_cbor_array_append(&A, cur, next);
        cur = &cur->u.array.items[0];
    }
    pds_buf_init(&out, &A);
    is_int(pds_cbor_encode(v, &out), PDS_CBOR_EDEPTH,
           "encoder rejects too deep tree");
    is_int(out.len, 0, "failed encode leaves the buffer as it was");
}


static void
test_put(void)
{
    static const struct {
        int64_t      v;
        const char  *hex;
    } ints[] = {
        /* RFC 8949 appendix A */
        { 0, "00" }, { 1, "01" }, { 10, "0a" }, { 23, "17" }, { 24, "1818" },
        { 25, "1819" }, { 100, "1864" }, { 1000, "1903e8" },
        { 1000000, "1a000f4240" }, { 1000000000000LL, "1b000000e8d4a51000" },
        { -1, "20" }, { -10, "29" }, { -100, "3863" }, { -1000, "3903e7" },
        { INT64_MAX, "1b7fffffffffffffff" },
        { INT64_MIN, "3b7fffffffffffffff" },
    };

    char         hex[64];
    size_t       i;
    uint8_t      raw[64];
    const char  *got;
    pds_cid_t    cid;
    pds_buf_t    b;
    pds_cbor_t  *v;

    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        pds_buf_init(&b, &A);
        pds_cbor_put_int(&b, ints[i].v);
        hex[pds_hex_encode(hex, b.data, b.len)] = '\0';
        got = hex;
        is_str(got, ints[i].hex, "put_int %lld", (long long) ints[i].v);

        v = NULL;
        ok(pds_cbor_decode(b.data, b.len, &A, &v) == 0
           && v->type == PDS_CBOR_INT && v->u.integer == ints[i].v,
           "decodes back %lld", (long long) ints[i].v);
    }

    /* {"a": [true, null, h'01'], "bb": "x", "c": cid} streamed */
    pds_cid_of_cbor(&cid, (const uint8_t *) "x", 1);
    pds_buf_init(&b, &A);
    ok(pds_cbor_put_map(&b, 3) == 0
       && pds_cbor_put_str(&b, "a") == 0
       && pds_cbor_put_array(&b, 3) == 0
       && pds_cbor_put_bool(&b, 1) == 0
       && pds_cbor_put_null(&b) == 0
       && pds_cbor_put_bytes(&b, (const uint8_t *) "\x01", 1) == 0
       && pds_cbor_put_str(&b, "c") == 0
       && pds_cbor_put_cid(&b, &cid) == 0
       && pds_cbor_put_str(&b, "bb") == 0
       && pds_cbor_put_text(&b, "xyz", 1) == 0, "streamed a map");
    ok(pds_cbor_decode(b.data, b.len, &A, &v) == 0, "it decodes");
    ok(v && pds_cbor_map_get(v, "c") != NULL
       && pds_cbor_map_get(v, "c")->type == PDS_CBOR_CID
       && pds_cid_equal(&pds_cbor_map_get(v, "c")->u.cid, &cid),
       "map_get finds the CID");
    ok(v && pds_cbor_map_get(v, "bb") != NULL
       && strcmp(pds_cbor_map_get(v, "bb")->u.str.data, "x") == 0,
       "strings are NUL-terminated copies");
    ok(v && pds_cbor_map_get(v, "zz") == NULL, "map_get misses");

    /* a 36-byte CID plus prefix is exactly 41 bytes on the wire */
    pds_buf_init(&b, &A);
    pds_cbor_put_cid(&b, &cid);
    is_int(b.len, 41, "CID link is 41 bytes");
    pds_cid_to_bytes(&cid, raw);
    ok(b.data[4] == 0 && memcmp(b.data + 5, raw, 36) == 0,
       "CID link holds 0x00 + binary CID");

    ok(pds_cbor_key_cmp("b", 1, "aa", 2) < 0, "key_cmp: shorter first");
    ok(pds_cbor_key_cmp("ab", 2, "aa", 2) > 0, "key_cmp: then bytewise");
    ok(pds_cbor_key_cmp("", 0, "", 0) == 0, "key_cmp: equal");
}


static void
test_tree(void)
{
    int          rc;
    pds_buf_t    b, b2;
    pds_cbor_t  *m, *arr, *v;

    /* build a map in non-canonical order, with a replaced key */
    m = pds_cbor_new_map(&A);
    arr = pds_cbor_new_array(&A);
    pds_cbor_array_append(&A, arr, pds_cbor_new_int(&A, -5));
    pds_cbor_array_append(&A, arr, pds_cbor_new_string(&A, "hé", 3));
    ok(pds_cbor_map_set(&A, m, "zzz", 3, pds_cbor_new_bool(&A, 0)) == 0
       && pds_cbor_map_set(&A, m, "b", 1, arr) == 0
       && pds_cbor_map_set(&A, m, "aa", 2, pds_cbor_new_null(&A)) == 0
       && pds_cbor_map_set(&A, m, "a", 1, pds_cbor_new_int(&A, 1)) == 0
       && pds_cbor_map_set(&A, m, "zzz", 3, pds_cbor_new_bool(&A, 1)) == 0
       && pds_cbor_map_set(&A, m, "", 0,
                           pds_cbor_new_bytes(&A, (const uint8_t *) "", 0))
          == 0,
       "built a map");
    ok(pds_cbor_map_set(&A, m, "x", 1, NULL) == -1,
       "map_set propagates allocation failure");
    is_int(m->u.map.len, 5, "replaced key kept once");

    pds_buf_init(&b, &A);
    rc = pds_cbor_encode(m, &b);
    is_int(rc, 0, "encodes a hand-built tree");
    is_int(pds_cbor_decode(b.data, b.len, &A, &v), 0,
           "strict decoder accepts the encoder's output");
    ok(pds_cbor_equal(m, v), "decoded tree equals the built one");
    ok(v->u.map.len == 5 && v->u.map.pairs[0].key_len == 0
       && strcmp(v->u.map.pairs[1].key, "a") == 0
       && strcmp(v->u.map.pairs[2].key, "b") == 0
       && strcmp(v->u.map.pairs[3].key, "aa") == 0
       && strcmp(v->u.map.pairs[4].key, "zzz") == 0,
       "keys come out in canonical order");
    ok(pds_cbor_map_get(v, "zzz")->u.boolean == 1, "replaced value wins");

    pds_buf_init(&b2, &A);
    pds_cbor_encode(v, &b2);
    ok(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0,
       "encode(decode(encode(t))) == encode(t)");

    /* duplicate keys in a hand-edited tree are refused */
    m->u.map.pairs[1].key = "zzz";
    m->u.map.pairs[1].key_len = 3;
    pds_buf_init(&b, &A);
    is_int(pds_cbor_encode(m, &b), PDS_CBOR_EKEYDUP,
           "encoder rejects duplicate keys");

    v = pds_cbor_new_string(&A, "\xc0\x80", 2);
    pds_buf_init(&b, &A);
    is_int(pds_cbor_encode(v, &b), PDS_CBOR_EUTF8,
           "encoder rejects bad UTF-8");

    /* malloc-backed trees can be freed (checked by ASan) */
    m = pds_cbor_new_map(&pds_malloc_allocator);
    arr = pds_cbor_new_array(&pds_malloc_allocator);
    pds_cbor_array_append(&pds_malloc_allocator, arr,
                          pds_cbor_new_string(&pds_malloc_allocator, "x", 1));
    pds_cbor_map_set(&pds_malloc_allocator, m, "k", 1, arr);
    pds_cbor_map_set(&pds_malloc_allocator, m, "k", 1,
                     pds_cbor_new_int(&pds_malloc_allocator, 3));
    pds_buf_init(&b, &pds_malloc_allocator);
    ok(pds_cbor_encode(m, &b) == 0, "malloc tree encodes");
    is_int(pds_cbor_decode(b.data, b.len, &pds_malloc_allocator, &v), 0,
           "decodes with the malloc allocator");
    ok(pds_cbor_equal(m, v), "equal");
    pds_cbor_free(&pds_malloc_allocator, v);
    pds_cbor_free(&pds_malloc_allocator, m);

    /* a failed decode with malloc frees its partial tree (ASan) */
    b.data[b.len - 1] = 0xf9;
    ok(pds_cbor_decode(b.data, b.len, &pds_malloc_allocator, &v) != 0
       && v == NULL, "failed decode returns no tree");
    pds_buf_free(&b);
}


/* random data model values */

static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
    uint64_t  z;

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static size_t
rand_utf8(char *dst, size_t max)
{
    size_t    n, len, i;
    uint32_t  c;

    n = rng() % (max / 4 + 1);
    len = 0;

    for (i = 0; i < n; i++) {
        switch (rng() % 4) {
        case 0:
            c = 0x20 + rng() % 0x5f;
            break;
        case 1:
            c = 0x80 + rng() % 0x780;
            break;
        case 2:
            do {
                c = 0x800 + rng() % 0xf800;
            } while (c >= 0xd800 && c < 0xe000);
            break;
        default:
            c = 0x10000 + rng() % 0x100000;
            break;
        }

        if (c < 0x80) {
            dst[len++] = (char) c;
        } else if (c < 0x800) {
            dst[len++] = (char) (0xc0 | c >> 6);
            dst[len++] = (char) (0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            dst[len++] = (char) (0xe0 | c >> 12);
            dst[len++] = (char) (0x80 | ((c >> 6) & 0x3f));
            dst[len++] = (char) (0x80 | (c & 0x3f));
        } else {
            dst[len++] = (char) (0xf0 | c >> 18);
            dst[len++] = (char) (0x80 | ((c >> 12) & 0x3f));
            dst[len++] = (char) (0x80 | ((c >> 6) & 0x3f));
            dst[len++] = (char) (0x80 | (c & 0x3f));
        }
    }

    return len;
}


static int64_t
rand_int(void)
{
    switch (rng() % 4) {
    case 0:
        return (int64_t) (rng() % 48) - 24;
    case 1:
        return (int64_t) (rng() % 131072) - 65536;
    case 2:
        return (int64_t) (rng() >> (rng() % 64));
    default:
        return (int64_t) rng();
    }
}


static pds_cbor_t *
rand_value(int depth)
{
    char         s[64];
    size_t       n, i, len;
    uint8_t      bytes[40];
    pds_cid_t    cid;
    pds_cbor_t  *v;

    switch (rng() % (depth < 6 ? 9 : 7)) {
    case 0:
        return pds_cbor_new_null(&A);
    case 1:
        return pds_cbor_new_bool(&A, (int) (rng() & 1));
    case 2:
        return pds_cbor_new_int(&A, rand_int());
    case 3:
        len = rand_utf8(s, sizeof(s));
        return pds_cbor_new_string(&A, s, len);
    case 4:
        len = rng() % sizeof(bytes);
        for (i = 0; i < len; i++) {
            bytes[i] = (uint8_t) rng();
        }
        return pds_cbor_new_bytes(&A, bytes, len);
    case 5:
    case 6:
        for (i = 0; i < sizeof(s); i++) {
            s[i] = (char) rng();
        }
        pds_cid_compute(&cid, (rng() & 1) ? PDS_CID_CODEC_RAW
                                          : PDS_CID_CODEC_DAG_CBOR,
                        (const uint8_t *) s, rng() % sizeof(s));
        if (rng() % 2) {
            return pds_cbor_new_cid(&A, &cid);
        }
        return pds_cbor_new_int(&A, rand_int());
    case 7:
        v = pds_cbor_new_array(&A);
        n = rng() % 6;
        for (i = 0; i < n; i++) {
            pds_cbor_array_append(&A, v, rand_value(depth + 1));
        }
        return v;
    default:
        v = pds_cbor_new_map(&A);
        n = rng() % 7;
        for (i = 0; i < n; i++) {
            len = rand_utf8(s, 12);
            pds_cbor_map_set(&A, v, s, len, rand_value(depth + 1));
        }
        return v;
    }
}


static void
test_random(void)
{
    int          i, fails_rt, fails_eq, fails_val, fails_cut;
    size_t       cut;
    pds_buf_t    b1, b2;
    pds_cbor_t  *t, *d;

    fails_rt = fails_eq = fails_val = fails_cut = 0;

    for (i = 0; i < 2000; i++) {
        t = rand_value(0);

        pds_buf_init(&b1, &A);
        pds_buf_init(&b2, &A);

        if (pds_cbor_encode(t, &b1) != 0
            || pds_cbor_decode(b1.data, b1.len, &A, &d) != 0)
        {
            fails_rt++;
            continue;
        }

        if (!pds_cbor_equal(t, d)) {
            fails_eq++;
        }

        if (pds_cbor_encode(d, &b2) != 0 || b1.len != b2.len
            || memcmp(b1.data, b2.data, b1.len) != 0)
        {
            fails_rt++;
        }

        if (pds_cbor_validate(b1.data, b1.len, NULL) != 0) {
            fails_val++;
        }

        /* every strict prefix is truncated, never accepted */
        if (b1.len > 1) {
            cut = (size_t) (rng() % (b1.len - 1)) + 1;
            if (pds_cbor_validate(b1.data, b1.len - cut, NULL) == 0) {
                fails_cut++;
            }
        }

        if (i % 200 == 199) {
            pds_arena_destroy(arena);
            arena = pds_arena_create();
            A = pds_arena_allocator(arena);
        }
    }

    is_int(fails_rt, 0, "2000 random values: encode/decode/encode stable");
    is_int(fails_eq, 0, "2000 random values: decode(encode(v)) == v");
    is_int(fails_val, 0, "2000 random values: validator accepts them");
    is_int(fails_cut, 0, "2000 random values: truncations rejected");
}


int
main(void)
{
    /* tap.h helpers this test does not need */
    (void) tap_slurp;
    (void) tap_shared_path;

    arena = pds_arena_create();
    A = pds_arena_allocator(arena);

    test_rejects();
    test_accepts();
    test_depth();
    test_put();
    test_tree();
    test_random();

    pds_arena_destroy(arena);

    return tap_done();
}
